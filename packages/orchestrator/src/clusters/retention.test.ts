import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { lockKeyOf } from '@slipway/core/redis';
import type { CloudProvider } from '@slipway/cloud';
import { UnprocessableError } from '@slipway/core';
import { gate, startRedis, type TestRedis } from '@slipway/test-utils';
import {
  markRetirements,
  retirement,
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

const deploy = async (f: OrchestratorFixture, image: string, service = 'warm', scaleDownAfterSeconds = 60) => {
  const answer = await request(f.app)
    .post('/deployments')
    .set(TOKENS.deployer)
    .send({
      service,
      env: 'prod',
      image,
      message: 'retention',
      params: { strategy: { scaleDownAfterSeconds } },
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

  it('finds, in its full pass, a group whose mark was never made (retired before the list was kept) and asks each cloud once', async () => {
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

/**
 * A sweep's deps over three AWS regions, eu-west-1 the one each test makes refuse: clusters a prod
 * (in eu-west-1) and b prod (in ap-south-1), each with the one record `recordIn` makes; the warnings said.
 */
function threeRegions(
  cloudIn: (region: string) => CloudProvider,
  recordIn: (service: string, region: string) => unknown,
  store: Record<string, unknown> = {},
) {
  const warned: unknown[] = [];
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
        items: [recordIn(service, service === 'a' ? 'eu-west-1' : 'ap-south-1')],
      }),
      ...store,
    },
    logger: { ...logger, warn: (...args: unknown[]) => void warned.push(args) },
  } as unknown as RetentionDeps;
  return { deps, warned };
}

describe("the leftover splits' sweep across regions", () => {
  it('sweeps every region though one fails (a region denied or unreachable never stops the others)', async () => {
    const swept: string[] = [];
    const cloudIn = (region: string) =>
      ({
        sweepTrafficSplits: async () => {
          if (region === 'eu-west-1') throw new Error('AccessDenied: elasticloadbalancing:DescribeTargetGroups');
          swept.push(region);
          return [];
        },
      }) as unknown as CloudProvider;
    const { deps, warned } = threeRegions(cloudIn, (_service, region) => ({ context: { params: { region } } }));
    await sweepLeftoverSplits(deps, 1000);
    expect(swept).toEqual(['us-east-1', 'ap-south-1']);
    expect(JSON.stringify(warned)).toMatch(/eu-west-1/);
  });
});

// A review of the due list (issue 28's retention:due) for a request or a second replica landing
// between two of its steps, and for what it asks of AWS.
describe('the due list under review', () => {
  it("keeps a group's mark when the process dies right after its deployment's finish (the mark is part of the finish's step)", async () => {
    // The finish's step reaches Redis; the next command the store sends never does (a crash, a
    // WAIT for replicas that failed): the mark must already be there.
    let dead = false;
    const f = (fixture = await orchestratorFixture(redisServer, {
      storeRedis: (redis) =>
        new Proxy(redis, {
          get(target, prop, receiver) {
            const real = Reflect.get(target, prop, receiver) as unknown;
            if (prop === 'zadd' && dead) return () => Promise.reject(new Error('connection lost'));
            return typeof real === 'function' ? (real as (...a: unknown[]) => unknown).bind(target) : real;
          },
        }),
    }));
    await deploy(f, 'img-warm-1');
    dead = true;
    const second = await deploy(f, 'img-warm-2');
    dead = false;
    expect(second.state).toBe('succeeded');
    const due = await f.store.retiredDue(Date.now() + 61_000, 10);
    expect(due.map((d) => d.group)).toEqual([second.context.previous]);
  });

  it('still scales a group down whose mark a full pass wrote over with an older due time (the full pass racing a finish)', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const second = await deploy(f, 'img-warm-2');
    const group = second.context.previous!;
    // The full pass reads the records (the second deployment retired the group), then, while it
    // lists the region, an undo puts the group back in service and a third deployment retires it again.
    let third: Awaited<ReturnType<typeof deploy>> | undefined;
    const racing = around(f.cloud, 'describeClusters', async (real) => {
      const undo = await request(f.app)
        .post('/services/warm/envs/prod/undo')
        .set(TOKENS.deployer)
        .send({ message: 'back', deployment: second.id });
      expect((await ended(f.store, undo.body.id as string)).state).toBe('succeeded');
      third = await deploy(f, 'img-warm-3');
      return real();
    });
    await markRetirements({ store: f.store, cloud: racing, logger });
    expect(third!.context.previous).toBe(group);
    const firstDue = Date.parse(second.finishedAt!) + 60_000;
    const dueNow = Date.parse(third!.finishedAt!) + 60_000;
    expect(dueNow).toBeGreaterThan(firstDue);
    const deps = { store: f.store, cloud: f.cloud, logger };
    // Between the two due times: not yet (the third deployment retired it later)...
    expect(await scaleDownRetained(deps, (firstDue + dueNow) / 2)).not.toContain(group);
    expect(f.standIn.groups.get(group)).toMatchObject({ disabled: true, desired: 1 });
    // ...and once its own time came, scaled down (not lost until the next full pass, 15 min on).
    expect(await scaleDownRetained(deps, dueNow + 1_000)).toContain(group);
    expect(f.standIn.groups.get(group)).toMatchObject({ disabled: true, desired: 0 });
  });

  it('does not put off, in its full pass, the sooner time a finish wrote meanwhile (scaleDownAfterSeconds made shorter)', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1', 'warm', 3600);
    const second = await deploy(f, 'img-warm-2', 'warm', 3600);
    const group = second.context.previous!;
    // As above, the third deployment (60 s now, not an hour) retiring the group again while the full pass lists the region.
    let third: Awaited<ReturnType<typeof deploy>> | undefined;
    const racing = around(f.cloud, 'describeClusters', async (real) => {
      const undo = await request(f.app)
        .post('/services/warm/envs/prod/undo')
        .set(TOKENS.deployer)
        .send({ message: 'back', deployment: second.id });
      expect((await ended(f.store, undo.body.id as string)).state).toBe('succeeded');
      third = await deploy(f, 'img-warm-3', 'warm', 60);
      return real();
    });
    await markRetirements({ store: f.store, cloud: racing, logger });
    expect(third!.context.previous).toBe(group);
    const dueNow = Date.parse(third!.finishedAt!) + 60_000;
    expect(await scaleDownRetained({ store: f.store, cloud: f.cloud, logger }, dueNow + 1_000)).toContain(group);
  });

  it('scales the groups due though one is in a region no longer served and another one the cloud refuses to describe', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const retained = (await deploy(f, 'img-warm-2')).context.previous!;
    // Due before it (soonest first): a cluster that moved to a region no longer served, and one whose describe is throttled.
    await f.store.markRetired([
      { service: 'moved', env: 'prod', group: 'moved-prod-v000', dueAt: 1 },
      { service: 'busy', env: 'prod', group: 'busy-prod-v000', dueAt: 2 },
    ]);
    const store = new Proxy(f.store, {
      get(target, prop, receiver) {
        const real = Reflect.get(target, prop, receiver) as (...a: never[]) => unknown;
        if (prop !== 'list') return real;
        return async (query: { service?: string }) =>
          query.service === 'moved'
            ? { items: [{ service: 'moved', env: 'prod', context: { params: { region: 'eu-gone-1' } } }] }
            : (real as (q: unknown) => unknown).call(target, query);
      },
    });
    const cloud = new Proxy(f.cloud, {
      get(target, prop, receiver) {
        const real = Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
        if (prop !== 'getServerGroup') return real;
        return (name: string) =>
          name === 'busy-prod-v000' ? Promise.reject(new Error('Throttling: Rate exceeded')) : real(name);
      },
    });
    const regions = {
      kind: 'aws' as const,
      forRegion: (region?: string) => {
        if (region === 'eu-gone-1')
          throw new UnprocessableError('region eu-gone-1 is not served (no network set for it)');
        return cloud;
      },
    };
    const deps = { store, cloud, regions, logger } as unknown as RetentionDeps;
    expect(await scaleDownRetained(deps, Date.now() + 61_000)).toEqual([retained]);
    // The region no longer served is nothing the sweep can reach: off the list, as the full pass never marks it;
    // the refused one stays, asked again next sweep.
    expect((await f.store.retiredDue(Date.now() + 61_000, 10)).map((d) => d.group)).toEqual(['busy-prod-v000']);
  });

  // A security review: a deployer can hold clusters for as long as they like (a paused deployment
  // keeps its cluster's lock), and a sweep looks at the 200 groups due soonest. Held clusters'
  // groups stayed first in line, at their old due times, so 200 of them stopped every other
  // group's scale-down on the platform, for every team.
  it("never lets the groups it leaves due (their clusters held) keep the others' from their turn", async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    await deploy(f, 'img-warm-1');
    const retained = (await deploy(f, 'img-warm-2')).context.previous!;
    const held = Array.from({ length: 200 }, (_, i) => `held${String(i).padStart(3, '0')}`);
    await f.store.markRetired(
      held.map((service, i) => ({ service, env: 'prod', group: `${service}-prod-v001`, dueAt: i + 1 })),
    );
    for (const service of held) await f.redis.hset(lockKeyOf(f.prefix, `${service}:prod`), 'owner', 'dep-paused');
    const deps = { store: f.store, cloud: f.cloud, logger };
    const scaled = [
      ...(await scaleDownRetained(deps, Date.now() + 61_000)),
      ...(await scaleDownRetained(deps, Date.now() + 61_000)),
    ];
    expect(scaled).toEqual([retained]);
    expect(f.standIn.groups.get(retained)).toMatchObject({ disabled: true, desired: 0 });
    // The held clusters' groups are still due: looked at again once their clusters are given back.
    expect((await f.store.retiredDue(Date.now() + 61_000, 500)).map((d) => d.service).sort()).toEqual(held);
  });

  // A security review: an undo names the retained group it would re-enable when it is made. Cancelled
  // while it waited for a slot (the platform busy), it never touched the group, yet it counted as
  // the group's retirement: its own end and its own deployment-params (the older commit's) said when
  // the sweep scales the rollback target down (or, without scaleDownAfterSeconds, that it never does).
  it("counts no retirement for a deployment cancelled before it started (an undo's group is never touched)", () => {
    const at = Date.parse('2026-12-06T10:00:00.000Z');
    const retiring = {
      state: 'succeeded',
      startedAt: '2026-12-06T09:58:00.000Z',
      finishedAt: new Date(at).toISOString(),
      context: {
        group: 'warm-prod-v002',
        previous: 'warm-prod-v001',
        previousDisabled: true,
        params: { strategy: { scaleDownAfterSeconds: 3600 } },
      },
    };
    const undoCancelled = {
      state: 'cancelled',
      finishedAt: '2026-12-06T10:05:00.000Z',
      context: { group: 'warm-prod-v001', params: { strategy: { scaleDownAfterSeconds: 0 } } },
    };
    const records = [undoCancelled, retiring] as unknown as Parameters<typeof retirement>[1];
    expect(retirement('warm-prod-v001', records)).toEqual({ group: 'warm-prod-v001', at, after: 3600 });
  });

  it('reads every group due before it scales any (on AWS a scale-down makes the region snapshot stale: a read after it describes the whole region again)', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const retained: string[] = [];
    for (const service of ['quiet', 'still', 'warm']) {
      await deploy(f, `img-${service}-1`, service);
      retained.push((await deploy(f, `img-${service}-2`, service)).context.previous!);
    }
    const { calls, cloud } = counted(f.cloud);
    expect((await scaleDownRetained({ store: f.store, cloud, logger }, Date.now() + 61_000)).sort()).toEqual(
      retained.sort(),
    );
    const firstResize = calls.findIndex((c) => c.startsWith('resizeServerGroup'));
    expect(calls.slice(firstResize).filter((c) => c.startsWith('getServerGroup'))).toEqual([]);
    expect(calls.filter((c) => c.startsWith('getServerGroup'))).toHaveLength(3);
  });

  it('marks, in its full pass, the groups of every region though one region refuses to be listed', async () => {
    const marked: string[] = [];
    const finishedAt = new Date(Date.now() - 120_000).toISOString();
    const retiring = (service: string, region: string) => ({
      service,
      env: 'prod',
      state: 'succeeded',
      startedAt: finishedAt,
      finishedAt,
      context: {
        previous: `${service}-prod-v000`,
        previousDisabled: true,
        params: { region, strategy: { scaleDownAfterSeconds: 60 } },
      },
    });
    const cloudIn = (region: string) =>
      ({
        describeClusters: async () => {
          if (region === 'eu-west-1') throw new Error('AccessDenied: autoscaling:DescribeAutoScalingGroups');
          return { groups: [{ name: 'b-prod-v000', disabled: true, desired: 2 }], targetHealth: {} };
        },
      }) as unknown as CloudProvider;
    const { deps, warned } = threeRegions(cloudIn, retiring, {
      markRetired: async (groups: { group: string }[]) => void marked.push(...groups.map((g) => g.group)),
    });
    expect(await markRetirements(deps)).toBe(1);
    expect(marked).toEqual(['b-prod-v000']);
    expect(JSON.stringify(warned)).toMatch(/eu-west-1/);
  });
});
