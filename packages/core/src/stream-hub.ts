/**
 * Followers of Redis streams (a bake's log, a deployment's or a release's events) share one
 * blocking connection per process instead of one each: the hub runs one XREAD over every
 * stream followed now and hands each follower what is new for it. A follower added while the
 * hub blocks wakes it (CLIENT UNBLOCK), so nobody waits for the next round. Followers are
 * counted per subject and in total: beyond either cap a new one is refused with a 429.
 */
import type { Redis } from 'ioredis';
import { createFollowerLimit } from './follower-limit.js';
import { blockingConnection } from './redis.js';

type Entries = [string, string[]][];
type XReadAnswer = [string, Entries][] | null;

/** What a store's follow() needs of a connection: XREAD BLOCK on one stream, and disconnect. */
export type StreamConnection = Pick<Redis, 'xread' | 'disconnect'>;

export interface StreamHubOptions {
  /** The hub's own blocking connection is a duplicate of this one; this one wakes it. */
  redis: Redis;
  /** Followers one subject (a token's person) may have at once. */
  perSubject?: number;
  /** Followers the process serves at once. */
  total?: number;
}

export interface StreamHub {
  /** A follower for `subject`, or a TooManyRequestsError; disconnect() frees its place. */
  follower(subject: string): StreamConnection;
  readonly following: number;
  close(): void;
}

interface Waiter {
  key: string;
  after: string;
  deadline: number;
  resolve(answer: XReadAnswer): void;
}

/** Stream ids `ms-seq` compared as numbers. */
function newer(id: string, than: string): boolean {
  const [a, b] = id.split('-').map(Number) as [number, number];
  const [c, d] = than.split('-').map(Number) as [number, number];
  return a > c || (a === c && b > d);
}

export function createStreamHub({ redis, perSubject = 20, total = 500 }: StreamHubOptions): StreamHub {
  const places = createFollowerLimit({ perSubject, total });
  const waiters = new Set<Waiter>();
  let connection: Redis | undefined;
  let clientId: number | undefined;
  let running = false;
  let blockingOn = new Map<string, string>();
  let closed = false;
  const prefix = redis.options.keyPrefix ?? '';

  async function loop(): Promise<void> {
    running = true;
    try {
      while (waiters.size > 0 && !closed) {
        connection ??= blockingConnection(redis);
        clientId ??= Number(await connection.client('ID'));
        const from = new Map<string, string>();
        for (const w of waiters) {
          const known = from.get(w.key);
          if (known === undefined || newer(known, w.after)) from.set(w.key, w.after);
        }
        blockingOn = from;
        const wait = Math.max(1, Math.min(1000, Math.min(...[...waiters].map((w) => w.deadline)) - Date.now()));
        const answer = (await connection.xread(
          'BLOCK',
          wait,
          'STREAMS',
          ...from.keys(),
          ...from.values(),
        )) as XReadAnswer;
        blockingOn = new Map();
        const got = new Map((answer ?? []).map(([key, entries]) => [key.slice(prefix.length), entries]));
        const now = Date.now();
        for (const w of [...waiters]) {
          const entries = (got.get(w.key) ?? []).filter(([id]) => newer(id, w.after));
          if (entries.length > 0) settle(w, [[w.key, entries]]);
          else if (w.deadline <= now) settle(w, null);
        }
      }
    } catch {
      // The connection failed (Redis down): every follower's wait ends empty; its stream retries.
      for (const w of [...waiters]) settle(w, null);
      connection?.disconnect();
      connection = undefined;
      clientId = undefined;
    } finally {
      running = false;
    }
  }

  function settle(w: Waiter, answer: XReadAnswer) {
    waiters.delete(w);
    w.resolve(answer);
  }

  function wait(key: string, after: string, ms: number): Promise<XReadAnswer> {
    return new Promise((resolve) => {
      waiters.add({ key, after, deadline: Date.now() + ms, resolve });
      if (!running) void loop();
      else {
        const from = blockingOn.get(key);
        // The XREAD blocking now does not cover this stream from here: wake it to ask again.
        if ((from === undefined || newer(from, after)) && clientId !== undefined)
          void redis.client('UNBLOCK', clientId).catch(() => {});
      }
    });
  }

  return {
    follower(subject) {
      const free = places.take(subject);
      const xread = (async (...args: (string | number)[]) => {
        // The stores call XREAD BLOCK <ms> STREAMS <key> <after>.
        const ms = Number(args[args.indexOf('BLOCK') + 1]);
        const at = args.indexOf('STREAMS');
        return wait(String(args[at + 1]), String(args[at + 2]), ms);
      }) as unknown as Redis['xread'];
      return {
        xread,
        disconnect: free,
      };
    },
    get following() {
      return places.following;
    },
    close() {
      closed = true;
      for (const w of [...waiters]) settle(w, null);
      connection?.disconnect();
    },
  };
}
