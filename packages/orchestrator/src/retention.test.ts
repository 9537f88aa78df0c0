import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { lockKeyOf } from '@slipway/core';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { scaleDownRetained } from './retention.js';
import { ended, logger, orchestratorFixture, TOKENS, type OrchestratorFixture } from './runner.fixture.js';

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

const deploy = async (f: OrchestratorFixture, image: string) => {
  const answer = await request(f.app)
    .post('/deployments')
    .set(TOKENS.deployer)
    .send({
      service: 'warm',
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
