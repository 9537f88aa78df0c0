import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { ACTIONS, nap, ROLLBACK_ACTIONS, rollbackPlan, STRATEGIES, waitEnd, type ActionContext } from './actions.js';
import type { Deployment, DeploymentContext } from '../deployments/deployment.js';
import { leftInService } from '../notify.js';
import {
  ended,
  orchestratorFixture,
  reaches,
  TOKENS,
  type OrchestratorFixture,
} from '../deployments/runner.fixture.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const names = (list: { name: string }[]) => list.map((a) => a.name);

describe('STRATEGIES', () => {
  it('read top to bottom as the seed lists the steps of red-black, progressive and highlander', () => {
    const common = [
      'resolve-image',
      'resolve-config',
      'find-current-group',
      'name-next-group',
      'create-launch-template',
    ];
    const switchOver = [
      'create-server-group',
      'wait-for-instances-running',
      'wait-for-instance-health',
      'split-traffic',
      'enable-new-group',
      'wait-for-load-balancer-health',
      'weigh-traffic',
      'burn-in',
    ];
    const end = ['join-traffic', 'disable-old-group', 'wait-for-drain', 'destroy-old-groups', 'record'];
    expect(names(STRATEGIES['red-black'])).toEqual([...common, ...switchOver, ...end]);
    expect(names(STRATEGIES.highlander)).toEqual([...common, ...switchOver, ...end]);
    expect(names(STRATEGIES.progressive)).toEqual([...common, ...switchOver, 'grow-in-batches', ...end]);
  });

  it('name every action once, the rollback actions among them, so a recorded name always runs', () => {
    const all = [...Object.values(STRATEGIES).flat(), ...ROLLBACK_ACTIONS];
    for (const action of all) expect(ACTIONS.get(action.name)).toBe(action);
    expect(names(ROLLBACK_ACTIONS)).toEqual([
      'restore-previous-group',
      'wait-for-previous-group-health',
      'end-traffic-split',
      'take-new-group-out',
      'destroy-new-group',
    ]);
  });
});

describe("a wait's end", () => {
  it('is saved before the wait first waits, once, and not at all by a wait whose first look found it done', async () => {
    const saved: Record<string, number>[] = [];
    const d = { version: 1, context: {} } as Deployment;
    const ctx = {
      deployment: d,
      deps: { sleep: async () => undefined },
      async save() {
        saved.push({ ...d.context.waits });
        d.version! += 1;
      },
    } as unknown as ActionContext;
    // Done at its first look: nothing saved for it (its end goes with the action's own end).
    const end = await waitEnd(ctx, 'done-at-once', 1000);
    expect(saved).toEqual([]);
    expect(d.context.waits).toEqual({ 'done-at-once': end });
    // Waiting: saved before it first waits, and only then.
    const later = await waitEnd(ctx, 'waits', 1000);
    await nap(ctx, 0);
    await nap(ctx, 0);
    expect(saved).toEqual([{ 'done-at-once': end, waits: later }]);
    expect(await waitEnd(ctx, 'waits', 5000)).toBe(later);
    // A save meanwhile (a progress) carried it: no save of its own.
    await waitEnd(ctx, 'carried', 1000);
    await ctx.save();
    await nap(ctx, 0);
    expect(saved).toHaveLength(2);
  });
});

describe('rollbackPlan', () => {
  const at = (context: DeploymentContext) => ({ context }) as Deployment;
  it('destroys a new group that never took traffic, and leaves the previous alone', () => {
    expect(names(rollbackPlan(at({ group: 'g2', previous: 'g1' }), 'failed'))).toEqual([
      'take-new-group-out',
      'destroy-new-group',
    ]);
  });
  it('puts the previous group back before the new one leaves, once it took traffic', () => {
    expect(names(rollbackPlan(at({ group: 'g2', previous: 'g1', enabled: true }), 'rolled-back'))).toEqual([
      'restore-previous-group',
      'wait-for-previous-group-health',
      'take-new-group-out',
    ]);
    expect(names(rollbackPlan(at({ group: 'g2', previous: 'g1', enabled: true }), 'cancelled'))).toEqual([
      'restore-previous-group',
      'wait-for-previous-group-health',
      'take-new-group-out',
      'destroy-new-group',
    ]);
  });
  it('restores a previous group progressive shrank, and never destroys a retained group an undo re-enabled', () => {
    expect(names(rollbackPlan(at({ group: 'g2', previous: 'g1', previousShrunk: true }), 'failed'))[0]).toBe(
      'restore-previous-group',
    );
    expect(names(rollbackPlan(at({ group: 'g1', previous: 'g2', reuseGroup: true }), 'cancelled'))).toEqual([
      'take-new-group-out',
    ]);
  });
  it('has nothing to do before a group was named', () => {
    expect(rollbackPlan(at({}), 'cancelled')).toEqual([]);
  });
});

// Each transition of the runner against the stand-in cloud, a real Redis and BullMQ.
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

const deploy = async (f: OrchestratorFixture, service: string, image: string, strategy: object = {}) => {
  const answer = await request(f.app)
    .post('/deployments')
    .set(TOKENS.deployer)
    .send({ service, env: 'prod', image, message: 'transition', params: { strategy } });
  expect(answer.status).toBe(202);
  return answer.body.id as string;
};

describe('the runner', () => {
  it('pauses between actions and resumes where it stood', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const id = await deploy(f, 'pauses', 'img-pauses-1');
    await request(f.app).post(`/deployments/${id}/pause`).set(TOKENS.deployer).send({});
    const paused = await reaches(f.store, id, (d) => d.state === 'paused' || d.state === 'succeeded', 'the pause');
    if (paused.state === 'paused') {
      expect(await f.store.running()).not.toContain(id);
      expect(await f.store.holder('pauses', 'prod')).toBe(id);
      expect((await request(f.app).post(`/deployments/${id}/resume`).set(TOKENS.deployer).send({})).status).toBe(202);
    }
    expect((await ended(f.store, id)).state).toBe('succeeded');
  });

  it('cancels in service: the previous group back, the new one destroyed', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    expect((await ended(f.store, await deploy(f, 'cancels', 'img-cancels-1'))).state).toBe('succeeded');
    const previous = f.standIn.inService('cancels-prod');
    // The stand-in's load balancer lets the old targets go at once: the drain's look is held instead.
    let draining = true;
    f.standIn.intercept('describeTargetHealth', async () => {
      while (draining && f.standIn.groups.get(previous[0]!)?.disabled) await sleep(10);
    });
    const id = await deploy(f, 'cancels', 'img-cancels-2', { drainSeconds: 30 });
    await reaches(f.store, id, (d) => d.actions[d.current]?.name === 'wait-for-drain', 'the drain');
    expect((await request(f.app).post(`/deployments/${id}/cancel`).set(TOKENS.deployer).send({})).status).toBe(202);
    draining = false;
    const done = await ended(f.store, id);
    expect(done.state).toBe('cancelled');
    expect(f.standIn.inService('cancels-prod')).toEqual(previous);
    expect(f.standIn.groups.has(done.context.group!)).toBe(false);
  });

  it('tries a failing action again, and goes on', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    let failures = 1;
    f.standIn.intercept('createLaunchTemplate', () => {
      if (failures-- > 0) throw new Error('the cloud is throttling');
    });
    const id = await deploy(f, 'retries', 'img-retries-1');
    expect((await ended(f.store, id)).state).toBe('succeeded');
    const retried = (await f.store.events(id)).filter((e) => e.event.type === 'action-retry');
    expect(retried.map((e) => e.event.action)).toEqual(['create-launch-template']);
  });

  it('keeps waiting through a cloud that throttles for longer than an action is retried: a wait looks again next tick', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    // A throttle that outlasted the SDK's retries (AWS's account-wide bucket emptied by others).
    const throttle = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    let groupLooks = 6;
    let targetLooks = 6;
    f.standIn.intercept('getServerGroup', (args) => {
      if (f.standIn.groups.has(args[0] as string) && groupLooks-- > 0) throw throttle();
    });
    f.standIn.intercept('describeTargetHealth', () => {
      if (targetLooks-- > 0) throw throttle();
    });
    const id = await deploy(f, 'throttled', 'img-throttled-1', { burnInSeconds: 1 });
    const done = await ended(f.store, id);
    expect([done.state, done.reason]).toEqual(['succeeded', undefined]);
    expect(groupLooks).toBeLessThan(0);
    expect(targetLooks).toBeLessThan(0);
    const said = (await f.store.events(id)).filter((e) => e.event.type === 'progress').map((e) => e.event.text);
    expect(said).toContainEqual(
      expect.stringMatching(/the cloud did not answer \(ThrottlingException: Rate exceeded\)/),
    );
    // The burn-in's countdown carries its number: followers read it, not the words.
    const countdown = (await f.store.events(id)).filter(
      (e) => e.event.type === 'progress' && e.event.action === 'burn-in',
    );
    expect(countdown.length).toBeGreaterThan(0);
    for (const { event } of countdown) expect(event.text).toBe(`burn-in ${String(event.secondsLeft)} s left`);
    expect(done.context.secondsLeft).toBeUndefined();
  });

  it('never rolls a healthy deployment back because an old group could not be destroyed: it is left, said, and destroyed by the next', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    const strategy = { retainedGroups: 1 };
    expect((await ended(f.store, await deploy(f, 'leftover', 'img-leftover-1', strategy))).state).toBe('succeeded');
    const [oldest] = f.standIn.inService('leftover-prod');
    expect((await ended(f.store, await deploy(f, 'leftover', 'img-leftover-2', strategy))).state).toBe('succeeded');
    const refuse = f.standIn.intercept('destroyServerGroup', () => {
      throw Object.assign(new Error('not authorized to perform DeleteAutoScalingGroup'), { name: 'AccessDenied' });
    });
    const third = await ended(f.store, await deploy(f, 'leftover', 'img-leftover-3', strategy));
    expect(third.state).toBe('succeeded');
    expect(f.standIn.inService('leftover-prod')).toEqual([third.context.group]);
    expect(f.standIn.groups.has(oldest!)).toBe(true);
    expect(third.actions.find((a) => a.name === 'destroy-old-groups')?.output).toMatch(
      new RegExp(`left ${oldest}: not authorized to perform DeleteAutoScalingGroup`),
    );
    refuse();
    expect((await ended(f.store, await deploy(f, 'leftover', 'img-leftover-4', strategy))).state).toBe('succeeded');
    expect(f.standIn.groups.has(oldest!)).toBe(false);
  });

  it('ends failed, saying so, when its rollback cannot finish: the new group stays in service rather than nothing', async () => {
    const f = (fixture = await orchestratorFixture(redisServer));
    expect((await ended(f.store, await deploy(f, 'nowayback', 'img-nowayback-1'))).state).toBe('succeeded');
    const [previous] = f.standIn.inService('nowayback-prod');
    // The previous group disappears under it (someone else's hand) while the broken version burns in.
    f.standIn.intercept('enableServerGroup', (args) => {
      if (args[0] !== previous) f.standIn.groups.delete(previous!);
    });
    const id = await deploy(f, 'nowayback', 'img-nowayback-bad', { burnInSeconds: 1 });
    const done = await ended(f.store, id);
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(/stays in service/);
    expect(leftInService(done)).toBe(true);
    expect(f.standIn.inService('nowayback-prod')).toEqual([done.context.group]);
  });
});
