import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { type Redis, createRedis, luaDirectory, readLua } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Deployment } from './deployment.js';
import { createRedisDeploymentStore, Fenced, StaleWrite, type DeploymentStore } from './store.js';
import { clustersNow } from '../clusters/serving.js';
import type { CloudProvider } from '@slipway/cloud';

// The store's Lua scripts (lua/*.lua), each against a real Redis through the store that loads them.
let redisServer: TestRedis;
let redis: Redis;
let store: DeploymentStore;
let prefix: string;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
});
// Each test its own keys: the slots are shared by every cluster.
beforeEach(() => {
  prefix = redisServer.prefix();
  store = createRedisDeploymentStore({ redis, prefix, leaseMs: 60_000 });
});
afterAll(async () => {
  await redis.quit();
  await redisServer.stop();
});

function record(id: string, service: string, queue = false): Deployment {
  return {
    id,
    service,
    env: 'prod',
    image: 'img-1',
    message: 'm',
    strategy: 'red-black',
    params: {},
    by: 'dave',
    queue,
    state: 'queued',
    createdAt: new Date().toISOString(),
    actions: [{ name: 'resolve-image', state: 'pending', attempts: 0 }],
    current: 0,
    run: 1,
    context: {},
  };
}

const running = async (id: string) => Object.assign((await store.get(id))!, { state: 'running' as const });

const BROKEN = { brokenBy: 'admin', reason: 'test', at: new Date(0).toISOString() };

describe('the scripts load', () => {
  it('from src and from dist alike (tsc does not copy them: both read src/lua)', () => {
    const fromSrc = luaDirectory(new URL('../index.ts', import.meta.url).href);
    const fromDist = luaDirectory(new URL('../../dist/index.js', import.meta.url).href);
    expect(fromDist).toBe(fromSrc);
    expect(readLua(fromSrc, 'transition')).toContain('local function take_lock');
    const loaded = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import('@slipway/core/redis').then((c) => console.log(c.readLua(c.luaDirectory(import.meta.resolve('@slipway/orchestrator')), 'admit').length))",
      ],
      { cwd: new URL('../..', import.meta.url), encoding: 'utf8' },
    );
    expect(Number(loaded)).toBeGreaterThan(100);
  });
});

describe('admit.lua', () => {
  it('refuses an id that exists, whatever it holds', async () => {
    expect(await store.admit(record('dep-a1', 'adm'), 2)).toEqual({ outcome: 'run' });
    expect(await store.admit(record('dep-a1', 'adm'), 2)).toEqual({ outcome: 'exists' });
    expect(await store.admit(record('dep-a1', 'other'), 2)).toEqual({ outcome: 'exists' });
    expect((await store.events('dep-a1')).filter((e) => e.event.type === 'queued')).toHaveLength(1);
  });
});

describe('transition.lua', () => {
  it('fences a step by the lock token the deployment was given', async () => {
    await store.admit(record('dep-t1', 'fence'), 2);
    const d = await running('dep-t1');
    await store.transition(d, { event: { type: 'action-started' } });
    const broken = await store.breakLock('fence', 'prod', 2, BROKEN);
    expect(broken?.lock.owner).toBe('dep-t1');
    await expect(store.transition(d, { event: { type: 'action-finished' } })).rejects.toBeInstanceOf(Fenced);
    // Nothing held is taken back: no lock, no slot.
    expect(await store.holder('fence', 'prod')).toBeUndefined();
    expect(await store.running()).not.toContain('dep-t1');
  });

  it('takes a lapsed lease back with the same token only while nobody took the lock since', async () => {
    await store.admit(record('dep-t2', 'lapse'), 2);
    const d = await running('dep-t2');
    await redis.del(`${prefix}lock:lapse:prod`); // the lease ran out
    await store.transition(d, { event: { type: 'progress' } });
    expect(await store.holder('lapse', 'prod')).toBe('dep-t2');
    await redis.del(`${prefix}lock:lapse:prod`);
    expect(await store.admit(record('dep-t3', 'lapse'), 2)).toEqual({ outcome: 'run' });
    await expect(store.transition(d, { event: { type: 'progress' } })).rejects.toBeInstanceOf(Fenced);
  });

  it('pauses only while no cancel waits, gives the slot back and keeps the lock', async () => {
    await store.admit(record('dep-p1', 'pausing'), 1);
    await store.admit(record('dep-p2', 'pausing2'), 1);
    expect(await store.admissionQueue()).toContain('dep-p2');
    const d = await running('dep-p1');
    await store.setControl('dep-p1', 'cancel', 'dave', { type: 'cancel-requested', deployment: 'dep-p1' });
    expect(await store.transition({ ...d, state: 'paused' }, { mode: 'pause', limit: 1 })).toMatchObject({
      saved: false,
    });
    await redis.del(`${prefix}control:dep-p1`);
    // Nor once the pause asked was withdrawn (a resume came first): only a pause asked is taken.
    expect(await store.transition({ ...d, state: 'paused' }, { mode: 'pause', limit: 1 })).toMatchObject({
      saved: false,
    });
    await store.setControl('dep-p1', 'pause', 'dave', { type: 'pause-requested', deployment: 'dep-p1' });
    const paused = await store.transition({ ...d, state: 'paused' }, { mode: 'pause', limit: 1 });
    expect(paused).toMatchObject({ saved: true, admitted: ['dep-p2'] });
    expect(await store.holder('pausing', 'prod')).toBe('dep-p1');
    // Resumed: no slot free, it queues for one.
    const again = (await store.get('dep-p1'))!;
    const resumed = await store.transition(
      { ...again, state: 'running' },
      { mode: 'resume', limit: 1, queued: { ...again, state: 'queued' } },
    );
    expect(resumed.resumed).toBe('queued');
    expect((await store.get('dep-p1'))!.state).toBe('queued');
    // A list of clusters says what was saved: the queued record, not the running one asked.
    expect((await store.lastDeployments([{ service: 'pausing', env: 'prod' }]))[0]).toMatchObject({
      id: 'dep-p1',
      state: 'queued',
    });
    expect(await store.admissionQueue()).toContain('dep-p1');
  });

  it('finishes once: frees all, marks a succeeded group vetted, counts and puts the outcome in the outbox', async () => {
    await store.admit(record('dep-f1', 'finish'), 2);
    const d = await running('dep-f1');
    const stale = { ...d };
    d.context.group = 'finish-prod-v001';
    await store.transition({ ...d, state: 'succeeded' }, { event: { type: 'finished' }, mode: 'finish', limit: 2 });
    await expect(
      store.transition({ ...stale, state: 'failed' }, { event: { type: 'finished' }, mode: 'finish', limit: 2 }),
    ).rejects.toBeInstanceOf(StaleWrite);
    expect(await store.vetted('finish', 'prod')).toEqual(['finish-prod-v001']);
    expect(await redis.hget(`${prefix}metrics:deployments`, 'finish|prod|succeeded')).toBe('1');
    const entries = await store.outbox.take('tester', 30_000);
    expect(entries.filter((e) => e.deployment === 'dep-f1').map((e) => e.kind)).toEqual(['success']);
    for (const e of entries) await store.outbox.ack(e.id);
    expect(await store.outbox.take('tester', 0)).toEqual([]);
    expect(await store.holder('finish', 'prod')).toBeUndefined();
  });
});

describe('break-lock.lua', () => {
  it('frees the lock, the slot and the token together and passes the cluster to who waits', async () => {
    await store.admit(record('dep-b1', 'brk'), 2);
    expect(await store.admit(record('dep-b2', 'brk', true), 2)).toEqual({ outcome: 'waiting', holder: 'dep-b1' });
    const broken = await store.breakLock('brk', 'prod', 2, BROKEN);
    expect(broken).toMatchObject({ lock: { owner: 'dep-b1' }, admitted: ['dep-b2'] });
    expect(await store.holder('brk', 'prod')).toBe('dep-b2');
    expect(await redis.exists(`${prefix}holds:dep-b1`)).toBe(0);
    expect(await store.running()).not.toContain('dep-b1');
    expect(await store.breakLock('nolock', 'prod', 2, BROKEN)).toBeUndefined();
  });
});

describe('set-control.lua and append-event.lua', () => {
  it('refuse in words what the record no longer allows, and a stale or finished writer', async () => {
    await store.admit(record('dep-c1', 'ctl'), 2);
    const d = await running('dep-c1');
    d.irrevocable = 'nothing to go back to: retained groups is 0';
    await store.transition(d, { event: { type: 'irrevocable' } });
    expect(
      await store.setControl('dep-c1', 'rollback', 'dave', { type: 'rollback-requested', deployment: 'dep-c1' }),
    ).toEqual({
      outcome: 'refused',
      reason: 'nothing to go back to: retained groups is 0',
    });
    expect(
      await store.setControl('dep-c1', 'pause', 'dave', { type: 'pause-requested', deployment: 'dep-c1' }),
    ).toMatchObject({
      outcome: 'set',
      state: 'running',
    });
    expect(await store.event({ type: 'x', deployment: 'dep-c1', at: '' }, (d.version ?? 0) - 1)).toBe(false);
    expect(await store.event({ type: 'x', deployment: 'dep-c1', at: '' }, d.version)).toBe(true);
    await store.transition({ ...d, state: 'succeeded' }, { event: { type: 'finished' }, mode: 'finish', limit: 2 });
    expect(await store.event({ type: 'x', deployment: 'dep-c1', at: '' })).toBe(false);
    expect(
      await store.setControl('dep-c1', 'cancel', 'dave', { type: 'cancel-requested', deployment: 'dep-c1' }),
    ).toEqual({
      outcome: 'finished',
      state: 'succeeded',
    });
    // The pause it never got to is said before the end.
    const types = (await store.events('dep-c1')).map((e) => e.event.type);
    expect(types.slice(-2)).toEqual(['requests-unapplied', 'finished']);
  });
});

describe("a cluster's newest deployment, kept with every write of its record", () => {
  it('is what a list of clusters reads: no record parsed, the newest one, its state as written', async () => {
    const first = record('dep-last-1', 'last', true);
    expect((await store.admit(first, 2)).outcome).toBe('run');
    const second = { ...record('dep-last-2', 'last', true), createdAt: new Date(Date.now() + 1000).toISOString() };
    expect((await store.admit(second, 2)).outcome).toBe('waiting');
    await store.transition(await running('dep-last-1'), { event: { type: 'run-started' } });
    // Its region, where its groups are: a list of clusters on AWS reads it here, not from the record.
    const other = { ...record('dep-last-3', 'lastb'), context: { params: { region: 'eu-west-1' } } } as Deployment;
    await store.admit(other, 2);
    await store.transition(await running('dep-last-3'), { event: { type: 'run-started' } });
    const waiting = (await store.get('dep-last-2'))!.state;
    // The records themselves gone: what is answered was kept beside them, not read from them.
    await redis.del(
      `${prefix}deployment:dep-last-1`,
      `${prefix}deployment:dep-last-2`,
      `${prefix}deployment:dep-last-3`,
    );
    const [last, lastb, none] = await store.lastDeployments([
      { service: 'last', env: 'prod' },
      { service: 'lastb', env: 'prod' },
      { service: 'never', env: 'prod' },
    ]);
    expect(last).toEqual({ id: 'dep-last-2', state: waiting, by: 'dave', createdAt: second.createdAt, region: null });
    expect(lastb).toMatchObject({ id: 'dep-last-3', state: 'running', region: 'eu-west-1' });
    expect(none).toBeUndefined();

    // Every cluster listed on AWS: each cluster's region from there, its newest record never read
    // (4,000 clusters were 4,000 record reads a GET /clusters).
    const listedIn: string[] = [];
    const cloudIn = (region: string) =>
      ({
        describeClusters: async () => {
          listedIn.push(region);
          return { groups: [], targetHealth: {} };
        },
      }) as unknown as CloudProvider;
    const clouds = new Map(['us-east-1', 'eu-west-1'].map((r) => [r, cloudIn(r)]));
    const noRecords = new Proxy(store, {
      get: (target, prop, receiver) =>
        prop === 'list' || prop === 'get'
          ? () => Promise.reject(new Error(`store.${prop} read a record`))
          : Reflect.get(target, prop, receiver),
    });
    const { clusters } = await clustersNow(
      {
        store: noRecords,
        cloud: clouds.get('us-east-1')!,
        regions: { kind: 'aws', defaultRegion: 'us-east-1', forRegion: (r?: string) => clouds.get(r ?? 'us-east-1')! },
      },
      [
        { service: 'last', env: 'prod' },
        { service: 'lastb', env: 'prod' },
      ],
    );
    expect(clusters.map((c) => c.now.region ?? null)).toEqual([null, 'eu-west-1']);
    expect(listedIn.sort()).toEqual(['eu-west-1', 'us-east-1']);
  });

  it("reads 150,000 clusters' holders and newest deployments (spread into one call, Node's stack overflowed)", async () => {
    expect((await store.admit(record('dep-many-1', 'many'), 2)).outcome).toBe('run');
    const many = Array.from({ length: 150_000 }, (_c, i) => ({ service: `s${i}`, env: 'prod' }));
    many.push({ service: 'many', env: 'prod' });
    const [holders, lasts] = await Promise.all([store.holders(many), store.lastDeployments(many)]);
    expect(holders).toHaveLength(many.length);
    expect(holders.at(-1)).toBe('dep-many-1');
    expect(holders.slice(0, -1).every((h) => h === undefined)).toBe(true);
    expect(lasts.at(-1)).toMatchObject({ id: 'dep-many-1' });
    expect(lasts.slice(0, -1).every((l) => l === undefined)).toBe(true);
  });
});
