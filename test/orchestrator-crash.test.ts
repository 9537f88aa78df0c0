import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalProvider, type CloudProvider } from '@slipway/cloud';
import { type Redis, createRedis } from '@slipway/core/redis';
import { eventually, freePort, stopProcess } from '@slipway/test-utils';
import { startSearchPlatform, type SearchPlatform } from './fixtures/search-platform.js';

// Drill 3: an orchestrator of its own (its own keys and queue) against the platform's services,
// killed with SIGKILL at random instants (seeded; DRILL_SEED, DRILL_KILLS, 10 in npm test: `npm run drill --
// crash --kills 200` runs it long; the interleaving explorer covers the windows systematically), and once inside a rollback's own action.
let search: SearchPlatform;
let cloud: CloudProvider;
let redis: Redis;
let port: number;
const PREFIX = 'test:crash:';

beforeAll(async () => {
  search = await startSearchPlatform();
  cloud = createLocalProvider({ baseUrl: search.platform.urls.cloud!, token: search.platform.adminToken });
  redis = createRedis({ url: search.platform.redisUrl });
  port = await freePort();
}, 240_000);

// Whatever a failing test left running.
const children = new Set<ChildProcess>();
afterEach(async () => {
  for (const child of children) await stopProcess(child);
  children.clear();
});

afterAll(async () => {
  await redis?.quit();
  await search?.stop();
});

function orchestrator(env: Record<string, string> = {}): ChildProcess {
  const { urls } = search.platform;
  return spawn(process.execPath, ['packages/orchestrator/dist/main.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      REDIS_URL: search.platform.redisUrl,
      SLIPWAY_HOME: search.home,
      SLIPWAY_TOKENS_FILE: join(search.home, 'tokens.json'),
      // The orchestrator's own token: the platform role writes the local cloud.
      SLIPWAY_TOKEN: search.platform.serviceTokens.orchestrator!,
      SLIPWAY_CLOUD: 'local',
      SLIPWAY_CLOUD_URL: urls.cloud,
      SLIPWAY_METADATA_URL: urls.metadata,
      SLIPWAY_CONFIG_URL: urls.config,
      SLIPWAY_BAKING_URL: urls.baking,
      SLIPWAY_ORCHESTRATOR_PREFIX: PREFIX,
      SLIPWAY_ORCHESTRATOR_JOB_LOCK_MS: '1500',
      SLIPWAY_ORCHESTRATOR_SWEEP_MS: '500',
      SLIPWAY_ORCHESTRATOR_LEASE_MS: '5000',
      SLIPWAY_ORCHESTRATOR_POLL_MS: '100',
      LOG_LEVEL: 'warn',
      ...env,
    },
    // Its warnings, to say why when it does not come up.
    stdio: ['ignore', 'ignore', openSync(join(search.home, 'drill-orchestrator.log'), 'a')],
  });
}

/**
 * The local cloud as the orchestrator sees it, where a target that left a target group is shown
 * draining for as long as `draining` is set: as AWS shows it while a long request is in flight.
 * The local load balancer lets an idle target go at once (as AWS does), so the drain is otherwise
 * too short to act within.
 */
async function drainingView(cloudUrl: string): Promise<{ url: string; server: Server; stop(): void }> {
  const seen = new Map<string, Set<string>>();
  let draining = true;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([name]) => !['host', 'content-length', 'connection'].includes(name)),
      ) as Record<string, string>;
      const body = ['GET', 'HEAD'].includes(req.method!) ? undefined : Buffer.concat(chunks);
      const controller = new AbortController();
      res.on('close', () => controller.abort());
      let answer: Response;
      let text: string;
      try {
        answer = await fetch(`${cloudUrl}${req.url}`, {
          method: req.method!,
          headers,
          body,
          signal: controller.signal,
        });
        if (answer.headers.get('content-type')?.startsWith('text/event-stream')) {
          // A stream (the load balancer's traffic events) passes through as it comes, until either side ends it.
          res.writeHead(answer.status, { 'content-type': 'text/event-stream' });
          for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
          res.end();
          return;
        }
        text = await answer.text();
      } catch {
        // The orchestrator killed, or the daemon closed it: a cut connection, as the real one would see.
        res.destroy();
        return;
      }
      if (req.method === 'GET' && /^\/target-groups\/[^/]+\/health/.test(req.url!) && answer.ok) {
        const found = JSON.parse(text) as { items: { instanceId: string; state: string }[] };
        const ids = seen.get(req.url!) ?? new Set<string>();
        seen.set(req.url!, ids);
        for (const item of found.items) ids.add(item.instanceId);
        if (draining)
          for (const id of ids)
            if (!found.items.some((t) => t.instanceId === id)) found.items.push({ instanceId: id, state: 'draining' });
        text = JSON.stringify(found);
      }
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: viewPort } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${viewPort}`, server, stop: () => void (draining = false) };
}

async function started(child: ChildProcess): Promise<ChildProcess> {
  children.add(child);
  try {
    await eventually(
      () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok),
      Boolean,
      'the orchestrator',
      60_000,
    );
  } catch (error) {
    const log = readFileSync(join(search.home, 'drill-orchestrator.log'), 'utf8').slice(-3000);
    throw new Error(`${(error as Error).message}; exit ${child.exitCode ?? child.signalCode}; its log ends:\n${log}`);
  }
  return child;
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/**
 * A submission as the drill sent it: one killed after it admitted the deployment and before it
 * answered is sent again, and the cluster is then busy with that very deployment (the previous
 * one of the cluster ended before it was sent): that one is the drill's.
 */
async function submitted(env: string, submission: Promise<{ id: string }>): Promise<{ id: string }> {
  try {
    return await submission;
  } catch (error) {
    const busy = /: 409 (\{.*\})$/s.exec((error as Error).message);
    const holder = busy ? (JSON.parse(busy[1]!) as { code?: string; args?: { deployment?: string } }) : undefined;
    if (holder?.code !== 'cluster-busy' || !holder.args?.deployment) throw error;
    const d = await api<Deployment>(`/deployments/${holder.args.deployment}`);
    if (d.env !== env || !/^crash drill/.test(d.message)) throw error;
    return { id: d.id };
  }
}

/** The drill orchestrator's API; while it is down, tried again until it answers. */
const api = <T>(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<T> =>
  eventually(
    async () => {
      const answer = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { Authorization: `Bearer ${search.platform.adminToken}`, 'Content-Type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: answer.status, body: (await answer.json()) as T };
    },
    () => true,
    `${method} ${path}`,
    60_000,
  ).then((r) => {
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  });

type Deployment = {
  id: string;
  env: string;
  message: string;
  state: string;
  reason?: string;
  current: number;
  context: { group?: string; progress?: string };
  actions: { name: string; state: string }[];
};

const FINISHED = ['succeeded', 'failed', 'rolled-back', 'cancelled'];
const ends = (id: string) =>
  eventually(
    () => api<Deployment>(`/deployments/${id}`),
    (d) => FINISHED.includes(d.state),
    `deployment ${id}`,
    240_000,
  );

const version = async (url: string) => ((await (await fetch(url)).json()) as { version: string }).version;

/** mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples each load balancer every 100 ms: the longest time with no healthy target once it has served. */
function gapSampler(targetGroups: string[]) {
  const served = new Set<string>();
  const since = new Map<string, number>();
  let worst = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const tg of targetGroups) {
        const healthy = (await cloud.describeTargetHealth(tg).catch(() => [])).filter((t) => t.state === 'healthy');
        const at = Date.now();
        if (healthy.length > 0) {
          served.add(tg);
          since.delete(tg);
        } else if (served.has(tg)) {
          if (!since.has(tg)) since.set(tg, at);
          worst = Math.max(worst, at - since.get(tg)!);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return worst;
    },
  };
}

type Kind = 'success' | 'progressive' | 'rollback' | 'pause' | 'cancel' | 'undo';
// A long drill (`npm run drill -- crash --kills 200`) takes about 5 s a kill.
const DRILL_LIMIT_MS = Math.max(900_000, Number(process.env.DRILL_KILLS ?? 10) * 8_000);
const SCENARIOS: Kind[] = ['success', 'progressive', 'rollback', 'pause', 'cancel', 'undo'];

describe('drill 3: the orchestrator killed with SIGKILL', () => {
  it(
    'ends every deployment true to the cloud, whenever it is killed',
    async () => {
      const seed = Number(process.env.DRILL_SEED ?? Math.floor(Math.random() * 1e9));
      const kills = Number(process.env.DRILL_KILLS ?? 10);
      console.log(`crash drill: seed ${seed}, ${kills} kills (DRILL_SEED=${seed} replays it)`);
      const rand = random(seed);
      const versions: Record<string, string> = {
        [search.images.v1]: '1.0.0',
        [search.images.v2]: '2.0.0',
        [search.images.v3]: '3.0.0',
      };
      const sampler = gapSampler(['search-prod', 'search-staging']);
      let child = await started(orchestrator());
      let killed = 0;
      let done = false;
      const killer = (async () => {
        while (!done && killed < kills) {
          await new Promise((resolve) => setTimeout(resolve, 700 + rand() * 2300));
          if (done) break;
          child.kill('SIGKILL');
          await exited(child);
          killed++;
          child = await started(orchestrator());
        }
      })();

      const outcomes: string[] = [];
      async function cluster(env: 'prod' | 'staging', offset: number) {
        const url = env === 'prod' ? search.prodUrl : search.stagingUrl;
        let serving: string | undefined;
        const released: string[] = []; // images, newest first
        // Enough deployments for every kill to land in one (a long drill kills about every 4–5 s).
        for (let n = 0, ran = 0; ran < SCENARIOS.length || (killed < kills && n < Math.max(60, kills)); n++) {
          const kind = SCENARIOS[(n + offset) % SCENARIOS.length]!;
          if (kind === 'undo' && released.length < 2) continue;
          ran++;
          const image =
            kind === 'rollback' ? search.images.v3 : serving === '1.0.0' ? search.images.v2 : search.images.v1;
          const quick = { burnInSeconds: 1, drainSeconds: 0, retainedGroups: 10 };
          // Undo is always red-black.
          const strategy =
            kind === 'progressive' ? 'progressive' : n % 3 === 2 && kind !== 'undo' ? 'highlander' : 'red-black';
          const request = {
            service: 'search',
            env,
            image,
            message: `crash drill ${kind}`,
            strategy,
            params: {
              strategy: {
                ...quick,
                burnInSeconds: kind === 'rollback' ? 8 : kind === 'cancel' ? 6 : 1,
                healthTimeoutSeconds: 30,
              },
            },
          };
          const { id } = await submitted(
            env,
            kind === 'undo'
              ? api<{ id: string }>(`/services/search/envs/${env}/undo`, { message: 'crash drill undo' })
              : api<{ id: string }>('/deployments', request),
          );
          if (kind === 'pause') {
            await api(`/deployments/${id}/pause`, {}).catch(() => undefined); // it may have ended already
            const paused = await eventually(
              () => api<Deployment>(`/deployments/${id}`),
              (d) => d.state === 'paused' || FINISHED.includes(d.state),
              'the pause',
              120_000,
            );
            if (paused.state === 'paused') await api(`/deployments/${id}/resume`, {});
          }
          if (kind === 'cancel') {
            await new Promise((resolve) => setTimeout(resolve, 1000 + rand() * 6000));
            await api(`/deployments/${id}/cancel`, {}).catch(() => undefined); // it may have ended already
          }
          const d = await ends(id);
          // The broken version fails 5 s after it starts: killed before it took traffic, it fails
          // before it does (the previous group never left); after, it is rolled back.
          const expected =
            kind === 'rollback'
              ? ['rolled-back', 'failed']
              : kind === 'cancel'
                ? ['cancelled', 'succeeded']
                : ['succeeded'];
          outcomes.push(`${env} ${kind} ${strategy}: ${d.state}`);
          if (!expected.includes(d.state)) {
            const timeline = d.actions.map((a) => `${a.name}=${a.state}`).join(' ');
            throw new Error(`${env} ${kind} ${id} ended ${d.state}: ${d.reason}\n${timeline}\n${outcomes.join('\n')}`);
          }
          expect({ env, kind, id, state: d.state, reason: d.reason }).toEqual({
            env,
            kind,
            id,
            state: expect.stringMatching(new RegExp(`^(${expected.join('|')})$`)),
            reason: d.state === 'succeeded' ? undefined : expect.any(String),
          });
          if (d.state === 'succeeded') {
            const deployed = kind === 'undo' ? released[1]! : image;
            serving = versions[deployed];
            released.unshift(deployed);
          }
          expect({ id, serving: await version(url) }).toEqual({ id, serving });
          const mine = (await cloud.listServerGroups(`search-${env}`)).filter((g) => g.tags?.deployment === id);
          expect({ id, groups: mine.length <= 1 }).toEqual({ id, groups: true });
          expect(d.actions.filter((a) => a.state === 'pending' || a.state === 'running')).toEqual([]);
        }
      }
      try {
        await Promise.all([cluster('staging', 0), cluster('prod', 3)]);
      } finally {
        done = true;
        await killer;
      }
      const worstGap = await sampler.stop();
      console.log(
        `crash drill: seed ${seed}, ${killed} kills survived over ${outcomes.length} deployments; worst no-healthy-target gap ${worstGap} ms\n${outcomes.join('\n')}`,
      );
      try {
        expect(killed).toBe(kills);
        expect(outcomes.length).toBeGreaterThanOrEqual(12);
        // No lock or slot held once all ended.
        expect(await redis.zcard(`${PREFIX}running`)).toBe(0);
        expect(await redis.llen(`${PREFIX}admission`)).toBe(0);
        for (const env of ['prod', 'staging']) {
          expect(await api<{ lock: unknown }>(`/services/search/envs/${env}/lock`)).toMatchObject({ lock: null });
        }
        expect(worstGap).toBe(0);
      } finally {
        await stopProcess(child);
      }
    },
    DRILL_LIMIT_MS,
  );

  it('finishes a rollback killed inside its own action, the old version serving', async () => {
    const view = await drainingView(search.platform.urls.cloud!);
    let child = await started(orchestrator({ SLIPWAY_CLOUD_URL: view.url }));
    try {
      const first = await api<{ id: string }>('/deployments', {
        service: 'search',
        env: 'staging',
        image: search.images.v1,
        message: 'before',
        params: { strategy: { burnInSeconds: 0, drainSeconds: 0 } },
      });
      expect((await ends(first.id)).state).toBe('succeeded');
      await stopProcess(child);
      child = await started(
        orchestrator({
          SLIPWAY_ORCHESTRATOR_CRASH_AT: 'restore-previous-group:between-resize-and-enable',
          SLIPWAY_CLOUD_URL: view.url,
        }),
      );
      const { id } = await api<{ id: string }>('/deployments', {
        service: 'search',
        env: 'staging',
        image: search.images.v2,
        message: 'rolled back by hand while it drains',
        params: { strategy: { burnInSeconds: 0, drainSeconds: 60 } },
      });
      await eventually(
        () => api<Deployment>(`/deployments/${id}`),
        (d) => d.actions[d.current]?.name === 'wait-for-drain',
        'the drain',
        120_000,
      );
      await api(`/deployments/${id}/rollback`, {});
      // The old targets still show draining until it died: the rollback, not the drain's end, ends the wait.
      await exited(child); // it died inside restore-previous-group, the old group still out of service
      view.stop();
      child = await started(orchestrator());
      const done = await ends(id);
      expect(done.state).toBe('rolled-back');
      const names = done.actions.map((a) => `${a.name}=${a.state}`);
      expect(names).toEqual(
        expect.arrayContaining([
          'wait-for-drain=skipped',
          'destroy-old-groups=skipped',
          'record=skipped',
          'restore-previous-group=done',
          'wait-for-previous-group-health=done',
          'take-new-group-out=done',
        ]),
      );
      expect(await version(search.stagingUrl)).toBe('1.0.0');
    } finally {
      await stopProcess(child);
      view.server.close();
    }
  }, 300_000);
});
