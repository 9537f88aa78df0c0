import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { lockKeyOf } from '@slipway/core/redis';
import type { CloudProvider } from '@slipway/cloud';
import { gate, startRedis, type TestRedis } from '@slipway/test-utils';
import {
  markRetirements,
  scaleDownRetained,
  startRetentionSweep,
  sweepLeftoverSplits,
  type RetentionDeps,
} from './retention.js';
import { ended, logger, orchestratorFixture, TOKENS, type OrchestratorFixture } from '../deployments/runner.fixture.js';

// Issue 25 item 10: retained groups scaled to zero after scaleDownAfterSeconds, and back up by an
// undo, against the stand-in cloud and a real Redis (the platform's drill 5 does it on the local cloud).
let redisServer: TestRedis;
let fixture: OrchestratorFixture | undefined;
beforeAll(async () => {
  redisServer = await startRedis();
});
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});
afterAll(async () => {
  await redisServer.stop();
});

const deploy = async (f: OrchestratorFixture, image: string, service = 'warm') => {
  const answer = await request(f.app)
    .post('/deployments')
    .set(TOKENS.deployer)
    .send({
      service,
      env: 'prod',
      image,
      message: 'retention',
      params: { strategy: { scaleDownAfterSeconds: 60 } },
    });
  expect(answer.status).toBe(202);
  return ended(f.store, answer.body.id as string);
};

describe('retained groups', () => {
  it('are scaled to zero once scaleDownAfterSeconds passed, marked so, and an undo scales one back up saying how long it took', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const deps = { store: f.store, cloud: f.cloud, logger };
    expect((await deploy(f, 'img-warm-1')).state).toBe('succeeded');
    const second = await deploy(f, 'img-warm-2');
    expect(second.state).toBe('succeeded');
    const retained = second.context.previous!;
    expect(f.standIn.groups.get(retained)).toMatchObject({ disabled: true, desired: 1 });

    // Not yet: it left service less than 60 s ago.
    expect(await scaleDownRetained(deps)).toEqual([]);
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([retained]);
    expect(f.standIn.groups.get(retained)).toMatchObject({ disabled: true, min: 0, desired: 0 });
    // Twice is the same: nothing left to scale.
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([]);
    const page = await request(f.app).get('/services/warm/envs/prod').set(TOKENS.deployer);
    expect(page.body.retained).toEqual([expect.objectContaining({ name: retained, vetted: true, scaledDown: true })]);
    expect(page.body.active).toMatchObject({ name: second.context.group, vetted: true });
    expect(page.body.active.scaledDown).toBeUndefined();

    const undo = await request(f.app)
      .post('/services/warm/envs/prod/undo')
      .set(TOKENS.deployer)
      .send({ message: 'back', deployment: second.id });
    expect(undo.status).toBe(202);
    const done = await ended(f.store, undo.body.id as string);
    expect(done.state).toBe('succeeded');
    expect(done.context).toMatchObject({ group: retained, reuseGroup: true });
    expect(done.context.scaleUp).toEqual({ from: 0, to: 1, at: expect.any(Number), tookMs: expect.any(Number) });
    expect(done.actions.find((a) => a.name === 'wait-for-instance-health')?.output).toMatch(
      /; scaled back up from 0 to 1 in \d+\.\d s$/,
    );
    expect(f.standIn.groups.get(retained)).toMatchObject({ disabled: false, desired: 1 });
  });

  it('are left alone while their cluster is being deployed, and when no scaleDownAfterSeconds is set', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const deps = { store: f.store, cloud: f.cloud, logger };
    const plain = async (image: string) => {
      const answer = await request(f.app)
        .post('/deployments')
        .set(TOKENS.deployer)
        .send({ service: 'kept', env: 'prod', image, message: 'no scale-down' });
      return ended(f.store, answer.body.id as string);
    };
    await plain('img-kept-1');
    const second = await plain('img-kept-2');
    expect(await scaleDownRetained(deps, Date.now() + 86_400_000)).toEqual([]);
    expect(f.standIn.groups.get(second.context.previous!)).toMatchObject({ disabled: true, desired: 1 });

    await deploy(f, 'img-warm-1');
    const warm = await deploy(f, 'img-warm-2');
    // A deployment holds the cluster (its lock): the sweep does not touch it.
    await f.redis.hset(lockKeyOf(f.prefix, 'warm:prod'), 'owner', 'dep-holding');
    expect(await f.store.holder('warm', 'prod')).toBe('dep-holding');
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([]);
    await f.redis.del(lockKeyOf(f.prefix, 'warm:prod'));
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([warm.context.previous]);
  });
});

/** The sweep's own cloud, every call it makes written down (its name and first argument). */
const counted = (cloud: CloudProvider) => {
  const calls: string[] = [];
  const proxy = new Proxy(cloud, {
    get(target, prop, receiver) {
      const real = Reflect.get(target, prop, receiver) as unknown;
      if (typeof real !== 'function') return real;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)} ${JSON.stringify(args[0] ?? '')}`);
        return (real as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { calls, cloud: proxy };
};

// Issue 28: the sweep (every 10 s on each replica) asked the cloud for every cluster's groups, to
// find the few retained ones due: 4,000 clusters were 4,000 cloud calls a sweep (on AWS,
// DescribeAutoScalingGroups calls, throttled long before), and half a core of the orchestrator idle.
describe('the sweep with many clusters', () => {
  it('asks the cloud only about the groups due, not about every cluster', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const retained: string[] = [];
    for (const service of ['quiet', 'still', 'warm']) {
      await deploy(f, `img-${service}-1`, service);
      retained.push((await deploy(f, `img-${service}-2`, service)).context.previous!);
    }
    // Not due yet: the cloud is not asked at all.
    const early = counted(f.cloud);
    expect(await scaleDownRetained({ store: f.store, cloud: early.cloud, logger })).toEqual([]);
    expect(early.calls).toEqual([]);

    // Due 60 s after each left service: each group due is asked about, no cluster listed for the others.
    const { calls, cloud } = counted(f.cloud);
    const scaled = await scaleDownRetained({ store: f.store, cloud, logger }, Date.now() + 61_000);
    expect(scaled.sort()).toEqual(retained.sort());
    expect(calls.filter((c) => c.startsWith('listServerGroups')).sort()).toEqual([
      'listServerGroups "quiet-prod"',
      'listServerGroups "still-prod"',
      'listServerGroups "warm-prod"',
    ]);
    // Once scaled, off the list: the next sweep asks nothing.
    const after = counted(f.cloud);
    expect(await scaleDownRetained({ store: f.store, cloud: after.cloud, logger }, Date.now() + 61_000)).toEqual([]);
    expect(after.calls).toEqual([]);
  });

  it('finds, in its full pass, a group whose mark was lost (a crash right after the finish) and asks each cloud once', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const second = await deploy(f, 'img-warm-2');
    await f.redis.del(`${f.prefix}retention:due`);
    const deps = { store: f.store, cloud: f.cloud, logger };
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([]);

    const { calls, cloud } = counted(f.cloud);
    expect(await markRetirements({ ...deps, cloud })).toBe(1);
    expect(calls).toEqual(['describeClusters {"health":false}']);
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([second.context.previous]);
    // Scaled to zero: nothing left for a full pass to mark.
    expect(await markRetirements(deps)).toBe(0);
  });
});

/** The sweep's own cloud: `call` runs around each of its calls named `name` (the runner's cloud is left alone). */
const around = (
  cloud: CloudProvider,
  name: keyof CloudProvider,
  call: (real: () => Promise<unknown>) => Promise<unknown>,
) =>
  new Proxy(cloud, {
    get(target, prop, receiver) {
      const real = Reflect.get(target, prop, receiver) as (...args: unknown[]) => Promise<unknown>;
      return prop === name ? (...args: unknown[]) => call(() => real.apply(target, args)) : real;
    },
  });

// The sweep and a deployment racing for a retained group (a race review): the sweep holds the
// cluster's lock while it scales a group down, and reads the group again once it holds it.
describe('the sweep racing a deployment', () => {
  it('leaves serving a group an undo re-enabled while the sweep listed the cluster', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const second = await deploy(f, 'img-warm-2');
    const retained = second.context.previous!;
    // The sweep's first read of the group answers what it saw, then (a slow answer) an undo re-enabling that group runs to its end.
    let first = true;
    const slow = around(f.cloud, 'getServerGroup', async (real) => {
      const seen = await real();
      if (!first) return seen;
      first = false;
      const undo = await request(f.app)
        .post('/services/warm/envs/prod/undo')
        .set(TOKENS.deployer)
        .send({ message: 'back', deployment: second.id });
      expect(undo.status).toBe(202);
      expect((await ended(f.store, undo.body.id as string)).state).toBe('succeeded');
      return seen;
    });
    const scaled = await scaleDownRetained({ store: f.store, cloud: slow, logger }, Date.now() + 61_000);
    expect(f.standIn.groups.get(retained)).toMatchObject({ disabled: false, desired: 1 });
    expect(f.standIn.groups.get(second.context.group!)).toMatchObject({ disabled: true });
    expect(scaled).toEqual([]);
  });

  it('refuses an undo in words while it scales a group down, and a queued deployment waits for it', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const second = await deploy(f, 'img-warm-2');
    const retained = second.context.previous!;
    const resizing = gate();
    const slow = around(f.cloud, 'resizeServerGroup', async (real) => {
      await resizing.hold();
      return real();
    });
    const deps = { store: f.store, cloud: slow, logger, limit: 2, start: f.runner.startAdmitted };
    const sweep = scaleDownRetained(deps, Date.now() + 61_000);
    await resizing.arrived;
    const undo = await request(f.app)
      .post('/services/warm/envs/prod/undo')
      .set(TOKENS.deployer)
      .send({ message: 'back', deployment: second.id });
    expect(undo.status).toBe(409);
    expect(undo.body.detail).toMatch(/^warm prod: retained group .+ is being scaled down; try again in a few seconds$/);
    const queued = await request(f.app)
      .post('/deployments')
      .set(TOKENS.deployer)
      .send({ service: 'warm', env: 'prod', image: 'img-warm-3', message: 'after it', queue: true });
    expect(queued.status).toBe(202);
    expect((await f.store.get(queued.body.id as string))?.state).toBe('queued');
    resizing.open();
    expect(await sweep).toEqual([retained]);
    expect((await ended(f.store, queued.body.id as string)).state).toBe('succeeded');
    expect(f.standIn.groups.get(retained)).toMatchObject({ disabled: true, desired: 0 });
  });

  it('two sweeps at once: one scales the group down, the other leaves the cluster to it', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const retained = (await deploy(f, 'img-warm-2')).context.previous!;
    const resizing = gate();
    const slow = around(f.cloud, 'resizeServerGroup', async (real) => {
      await resizing.hold();
      return real();
    });
    const first = scaleDownRetained({ store: f.store, cloud: slow, logger }, Date.now() + 61_000);
    await resizing.arrived;
    expect(await scaleDownRetained({ store: f.store, cloud: f.cloud, logger }, Date.now() + 61_000)).toEqual([]);
    resizing.open();
    expect(await first).toEqual([retained]);
    expect(await f.store.holder('warm', 'prod')).toBeUndefined();
  });

  it('gives a cluster on to the deployment waiting behind a hold whose sweep died', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const retained = (await deploy(f, 'img-warm-2')).context.previous!;
    const lock = lockKeyOf(f.prefix, 'warm:prod');
    await f.redis.hset(lock, 'owner', `scaling-down:${retained}:dead`, 'token', '999', 'holder', retained);
    const queued = await request(f.app)
      .post('/deployments')
      .set(TOKENS.deployer)
      .send({ service: 'warm', env: 'prod', image: 'img-warm-3', message: 'behind it', queue: true });
    expect(queued.status).toBe(202);
    await f.redis.del(lock); // its lease ran out
    const deps = { store: f.store, cloud: f.cloud, logger, limit: 2, start: f.runner.startAdmitted };
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([]);
    expect((await ended(f.store, queued.body.id as string)).state).toBe('succeeded');
  });
});

// A rollback target the sweep scaled to zero (a race review): when no vetted group serves (the
// serving one gone), the newest vetted group is what a deployment goes back to.
describe('the group a deployment would go back to', () => {
  const nothingVettedServes = async (f: OrchestratorFixture) => {
    await deploy(f, 'img-warm-1');
    const second = await deploy(f, 'img-warm-2');
    const third = await deploy(f, 'img-warm-3');
    await f.cloud.destroyServerGroup(third.context.group!);
    return { oldest: second.context.previous!, newest: third.context.previous! };
  };

  it('is never scaled down by the sweep while no vetted group serves', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const { oldest, newest } = await nothingVettedServes(f);
    expect(await scaleDownRetained({ store: f.store, cloud: f.cloud, logger }, Date.now() + 61_000)).toEqual([oldest]);
    expect(f.standIn.groups.get(newest)).toMatchObject({ disabled: true, desired: 1 });
  });

  it('at zero, is recorded to go back at its deployment-params capacity, not at zero', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const { newest } = await nothingVettedServes(f);
    await f.cloud.resizeServerGroup(newest, { min: 0, desired: 0, max: 1 });
    const fourth = await deploy(f, 'img-warm-4');
    expect(fourth.context.previous).toBe(newest);
    expect(fourth.context.previousCapacity).toEqual(fourth.context.params!.capacity);
    expect(fourth.context.previousCapacity!.desired).toBeGreaterThan(0);
  });
});

describe("leftover traffic splits' target groups", () => {
  it('are swept on the retention clock, at most as often as asked, with the grace period given', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const asked: number[] = [];
    const cloud = {
      ...f.cloud,
      sweepTrafficSplits: async ({ graceMs }: { graceMs: number }) => (asked.push(graceMs), ['search-prod-v009']),
    } as unknown as CloudProvider;
    const sweeper = startRetentionSweep({
      store: f.store,
      cloud,
      logger,
      everyMs: 3_600_000,
      splits: { everyMs: 3_600_000, graceMs: 7_200_000 },
    });
    try {
      await sweeper.sweep();
      await sweeper.sweep();
      expect(asked).toEqual([7_200_000]);
    } finally {
      sweeper.close();
    }
  });
});

describe("the leftover splits' sweep across regions", () => {
  it('sweeps every region though one fails (a region denied or unreachable never stops the others)', async () => {
    const swept: string[] = [];
    const warned: unknown[] = [];
    const cloudIn = (region: string) =>
      ({
        sweepTrafficSplits: async () => {
          if (region === 'eu-west-1') throw new Error('AccessDenied: elasticloadbalancing:DescribeTargetGroups');
          swept.push(region);
          return [];
        },
      }) as unknown as CloudProvider;
    const clouds = new Map(['us-east-1', 'eu-west-1', 'ap-south-1'].map((r) => [r, cloudIn(r)]));
    const deps = {
      cloud: clouds.get('us-east-1')!,
      regions: { kind: 'aws', defaultRegion: 'us-east-1', forRegion: (r?: string) => clouds.get(r ?? 'us-east-1')! },
      store: {
        clusters: async () => [
          { service: 'a', env: 'prod' },
          { service: 'b', env: 'prod' },
        ],
        list: async ({ service }: { service: string }) => ({
          items: [{ context: { params: { region: service === 'a' ? 'eu-west-1' : 'ap-south-1' } } }],
        }),
      },
      logger: { ...logger, warn: (...args: unknown[]) => void warned.push(args) },
    } as unknown as RetentionDeps;
    await sweepLeftoverSplits(deps, 1000);
    expect(swept).toEqual(['us-east-1', 'ap-south-1']);
    expect(JSON.stringify(warned)).toMatch(/eu-west-1/);
  });
});
