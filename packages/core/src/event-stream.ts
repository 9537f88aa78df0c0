/**
 * Server-sent events over a Redis stream (a bake's log, a deployment's events): everything after
 * Last-Event-ID (or from the start), then each new entry as it is added, then an `end` event
 * once the thing is finished and nothing more is coming. Following blocks on a connection of
 * its own, closed with the response. While nothing happens a comment line goes out every 15 s:
 * a reader (fetch gives up on a body silent for 300 s) or a proxy between would otherwise take a
 * long bake or burn-in for a dead connection.
 */
import type { Request, Response } from 'express';

export interface StreamEntry {
  /** The Redis stream id, sent as the event id. */
  id: string;
  /** The event name; `message` when absent. */
  event?: string;
  data: string;
}

export interface EventStreamSource {
  /** Entries after `after` (`0-0`: from the start). */
  read(after: string): Promise<StreamEntry[]>;
  /** Blocks up to `ms` for entries after `after`. */
  follow(after: string, ms: number): Promise<StreamEntry[]>;
  /** The `end` event's data once finished, else undefined. */
  finished(): Promise<unknown | undefined>;
  close(): void;
}

export interface EventStreamOptions {
  /** How often a keep-alive comment is sent while nothing else is (default 15 s). */
  keepAliveMs?: number;
}

export const KEEP_ALIVE_MS = 15_000;

export async function sendEventStream(
  req: Request,
  res: Response,
  source: EventStreamSource,
  options: EventStreamOptions = {},
): Promise<void> {
  res.status(200).setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-cache');
  res.flushHeaders();
  let closed = false;
  req.on('close', () => (closed = true));
  const given = req.headers['last-event-id'];
  let after = typeof given === 'string' && /^\d+-\d+$/.test(given) ? given : '0-0';
  // Each write is one whole event or comment, so a comment never lands inside an event.
  const keepAlive = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n');
  }, options.keepAliveMs ?? KEEP_ALIVE_MS);
  const send = (entries: StreamEntry[]) => {
    for (const entry of entries) {
      const event = entry.event ? `event: ${entry.event}\n` : '';
      res.write(`id: ${entry.id}\n${event}data: ${entry.data.split('\n').join('\ndata: ')}\n\n`);
      after = entry.id;
    }
  };
  try {
    send(await source.read(after));
    while (!closed) {
      const end = await source.finished();
      const entries = await source.follow(after, end === undefined ? 1000 : 1);
      send(entries);
      if (end !== undefined && entries.length === 0) {
        res.write(`event: end\ndata: ${JSON.stringify(end)}\n\n`);
        break;
      }
    }
  } finally {
    clearInterval(keepAlive);
    source.close();
    res.end();
  }
}
