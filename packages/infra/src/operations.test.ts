import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { LocalCloud } from '@slipway/cloud';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { eventually, freePort, gitRepo, startRedis, type TestGitRepo, type TestRedis } from '@slipway/test-utils';
import { createApp } from './app.js';
import { createGitDefinitions } from './definitions.js';
import { createInfrastructure } from './infrastructure.js';
import { createRedisStackLocks } from './lock.js';
import { createLocalInfraProvider } from './provider.js';
import { createRedisInfraStore } from './store.js';
import { startApplyQueue } from './wiring.js';

const DEPLOYER = { Authorization: 'Bearer deployer-token' };
const ADMIN = { Authorization: 'Bearer admin-token' };
const READER = { Authorization: 'Bearer reader-token' };
const tokens = createTokenVerifier({
  'deployer-token': { subject: 'dave', role: 'deployer' },
  'admin-token': { subject: 'ada', role: 'admin' },
  'reader-token': { subject: 'rita', role: 'reader' },
});
const logger = createLogger({ name: 'infra', level: 'silent' });

let home: string;
let redisServer: TestRedis;
let redis: Redis;
let cloud: LocalCloud;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-infra-'));
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  cloud = new LocalCloud({ home, logger, reconcileMs: 200 });
  await cloud.start();
});

afterAll(async () => {
  await cloud.stop();
  await redis.quit();
  await redisServer.stop();
  await rm(home, { recursive: true, force: true });
});

/** A stack with a security group, a role and a load balancer named `lb`. */
function stackYaml(lb: string, port: number, { interval = 10, delay = 2, role = true } = {}): string {
  return `description: test stack
resources:
  ${lb}-sg:
    kind: securityGroup
    ingress:
      - { protocol: tcp, fromPort: ${port}, toPort: ${port}, cidr: 10.0.0.0/8 }
${
  role
    ? `  ${lb}-role:
    kind: iamRole
    trustPolicy:
      Version: '2012-10-17'
      Statement: [{ Effect: Allow, Principal: { Service: ec2.amazonaws.com }, Action: sts:AssumeRole }]
`
    : ''
}  ${lb}:
    kind: loadBalancer
    port: ${port}
    securityGroups: [${lb}-sg]
    targetGroup:
      name: ${lb}
      healthCheck: { path: /healthcheck, intervalSeconds: ${interval} }
      deregistrationDelaySeconds: ${delay}
`;
}

let repo: TestGitRepo;
let app: Express;
let applies: ReturnType<typeof startApplyQueue>;
let lb: string;
let port: number;
let prefix: string;
let definitions: ReturnType<typeof createGitDefinitions>;

beforeEach(async () => {
  lb = `lb-${randomBytes(3).toString('hex')}`;
  port = await freePort();
  prefix = redisServer.prefix();
  repo = await gitRepo({ 'stacks/web.yaml': stackYaml(lb, port) }, { message: 'web: first' });
  definitions = createGitDefinitions({ url: repo.url, dir: join(home, `${prefix}definitions.git`) });
  const store = createRedisInfraStore({ redis, prefix });
  const locks = createRedisStackLocks({ redis, prefix, leaseMs: 5000 });
  applies = startApplyQueue({
    redisUrl: redisServer.url,
    jobLockMs: 5000,
    driftEverySeconds: 3600,
    logger,
    prefix: `${prefix}queue`,
  });
  const infrastructure = createInfrastructure({
    definitions,
    provider: createLocalInfraProvider({ cloud, redis, prefix: `${prefix}local:` }),
    store,
    locks,
    queue: applies.queue,
    logger,
    planTtlSeconds: 600,
    leaseMs: 5000,
  });
  await applies.start(infrastructure);
  app = createApp({ infrastructure, store, locks, tokens, logger });
});

afterEach(async () => {
  await applies.close();
  definitions.close();
  for (const balancer of await cloud.listLoadBalancers()) await cloud.deleteLoadBalancer(balancer.name);
  await repo.remove();
});

const plan = (body: object = {}, stack = 'web', headers = DEPLOYER) =>
  request(app).post(`/stacks/${stack}/plans`).set(headers).send(body);

async function finished(applyId: string) {
  return eventually(
    async () => (await request(app).get(`/applies/${applyId}`).set(READER)).body,
    (apply) => apply.state === 'succeeded' || apply.state === 'failed',
    `apply ${applyId} to finish`,
  );
}

async function planAndApply(body: object = {}) {
  const planned = await plan(body);
  expect(planned.status).toBe(201);
  const started = await request(app).post(`/plans/${planned.body.id}/apply`).set(DEPLOYER);
  expect(started.status).toBe(202);
  return { plan: planned.body, apply: await finished(started.body.id) };
}

describe('POST /stacks/{stack}/plans', () => {
  it('plans every resource to create, security groups and roles before the load balancer', async () => {
    const res = await plan();
    expect(res.status).toBe(201);
    expect(res.body.serial).toBe(0);
    expect(res.body.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(res.body.changes.map((c: { resource: string; action: string }) => [c.resource, c.action])).toEqual([
      [`${lb}-sg`, 'create'],
      [`${lb}-role`, 'create'],
      [lb, 'create'],
    ]);
    expect(res.body.changes[2].changes).toContainEqual({ field: 'port', new: port });
    expect(res.body.summary).toMatchObject({ create: 3, update: 0, delete: 0 });
  });

  it('answers 422 naming the file, the resource, the field and the line', async () => {
    await repo.commit({
      'stacks/web.yaml': stackYaml(lb, port, { interval: 0 }).replace(`port: ${port}\n`, 'port: eighty\n'),
    });
    const res = await plan();
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { path: `stacks/web.yaml: ${lb}.port`, message: expect.stringMatching(/must be integer \(line \d+\)/) },
        {
          path: `stacks/web.yaml: ${lb}.targetGroup.healthCheck.intervalSeconds`,
          message: expect.stringMatching(/must be >= 5/),
        },
      ]),
    );
  });

  it('answers 422 for a health check AWS would refuse, before anything is created: timeout not below interval', async () => {
    await repo.commit({ 'stacks/web.yaml': stackYaml(lb, port, { interval: 5 }) }); // timeout defaults to 5
    const res = await plan();
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      {
        path: `stacks/web.yaml: ${lb}.targetGroup.healthCheck.timeoutSeconds`,
        message: 'must be below intervalSeconds (5), as AWS requires',
      },
    ]);
  });

  it('answers 422 for YAML that does not parse, and for a security group that does not exist', async () => {
    await repo.commit({ 'stacks/web.yaml': 'resources: [\n' });
    expect((await plan()).body.detail).toMatch(
      /stacks\/web.yaml is not a valid stack: is not valid YAML: .* \(line \d+\)/,
    );
    await repo.commit({ 'stacks/web.yaml': stackYaml(lb, port).replace(`[${lb}-sg]`, '[nowhere]') });
    const res = await plan();
    expect(res.status).toBe(422);
    expect(res.body.errors[0].path).toBe(`stacks/web.yaml: ${lb}.securityGroups.0`);
    expect(res.body.errors[0].message).toMatch(/names no security group nowhere/);
  });

  it("records the stack's region (a label on the local cloud), and refuses moving an applied stack to another", async () => {
    await repo.commit({ 'stacks/web.yaml': `region: local-east\n${stackYaml(lb, port)}` });
    const { plan: first, apply } = await planAndApply();
    expect(first.region).toBe('local-east');
    expect(apply).toMatchObject({ state: 'succeeded', region: 'local-east' });
    await repo.commit({ 'stacks/web.yaml': `region: local-west\n${stackYaml(lb, port)}` });
    const moved = await plan();
    expect(moved.status).toBe(422);
    expect(moved.body.detail).toBe(
      'stack web was applied in local-east: a stack cannot move to local-west (make a new stack there)',
    );
  });

  it('answers 400 for a ref Git must not see, 404 for an unknown stack or ref, 403 for a reader', async () => {
    expect((await plan({ ref: '--upload-pack=touch /tmp/x' })).status).toBe(400);
    expect((await plan({ ref: 'no-such-branch' }, 'web', ADMIN)).status).toBe(404);
    expect((await plan({}, 'other')).status).toBe(404);
    expect((await plan({}, 'Bad_Name')).status).toBe(400);
    expect((await plan({}, 'Bad_Name')).body.detail).toMatch(/a lowercase letter, then lowercase letters, digits or -/);
    expect((await plan({}, 'web', READER)).status).toBe(403);
  });
});

describe('refs other than the stack branch (#24 attack 13)', () => {
  it("lets only an admin plan or apply from a branch that is not the repository's default", async () => {
    // Anyone who can push a branch wrote this: the stack opened wide.
    await repo.git('checkout', '--quiet', '-b', 'wide-open');
    await repo.commit({ 'stacks/web.yaml': stackYaml(lb, port).replace('/healthcheck', '/anything') }, 'web: wide');
    await repo.git('checkout', '--quiet', 'main');
    const refused = await plan({ ref: 'wide-open' });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(
      /planned and applied from main; another ref \(wide-open\) needs the admin role/,
    );
    const commit = await repo.git('rev-parse', 'wide-open');
    expect((await plan({ ref: commit })).status).toBe(403);
    expect((await plan({ ref: 'main' })).status).toBe(201);
    // An admin may, and a deployer still cannot apply what came from there.
    const admins = await plan({ ref: 'wide-open' }, 'web', ADMIN);
    expect(admins.status).toBe(201);
    const applied = await request(app).post(`/plans/${admins.body.id}/apply`).set(DEPLOYER);
    expect(applied.status).toBe(403);
    expect((await request(app).get(`/plans/${admins.body.id}`).set(READER)).body.state).toBe('planned');
  });
});

describe('POST /plans/{id}/apply', () => {
  it('makes a real load balancer that answers 503 until targets register, and records the apply', async () => {
    const { apply } = await planAndApply();
    expect(apply.state).toBe('succeeded');
    expect(apply.steps.map((s: { state: string }) => s.state)).toEqual(['done', 'done', 'done']);
    const answer = await fetch(`http://127.0.0.1:${port}/`);
    expect(answer.status).toBe(503);
    expect((await cloud.getLoadBalancer(lb))?.tags).toMatchObject({ 'slipway:stack': 'web' });

    const history = await request(app).get('/stacks/web/history').set(READER);
    expect(history.body.items[0]).toMatchObject({ type: 'apply', by: 'dave', result: 'succeeded' });
    const stacks = await request(app).get('/stacks').set(READER);
    expect(stacks.body.items[0]).toMatchObject({
      stack: 'web',
      serial: 1,
      valid: true,
      lastApply: { result: 'succeeded' },
    });
  });

  it('plans an update with the changed fields, old → new, after a new commit, and applies it in place', async () => {
    await planAndApply();
    await repo.commit({ 'stacks/web.yaml': stackYaml(lb, port, { interval: 20, delay: 5 }) }, 'slower checks');
    const { plan: second, apply } = await planAndApply();
    expect(second.serial).toBe(1);
    const update = second.changes.find((c: { resource: string }) => c.resource === lb);
    expect(update.action).toBe('update');
    expect(update.changes).toEqual([
      { field: 'targetGroup.deregistrationDelaySeconds', old: 2, new: 5 },
      { field: 'targetGroup.healthCheck.intervalSeconds', old: 10, new: 20 },
    ]);
    expect(apply.state).toBe('succeeded');
    expect((await cloud.getLoadBalancer(lb))?.targetGroup.healthCheck.intervalSeconds).toBe(20);
    expect((await plan()).body.summary).toMatchObject({ create: 0, update: 0, 'no-op': 3 });
  });

  it('refuses a stale plan: the stack was applied since it was made', async () => {
    const first = (await plan()).body;
    const second = (await plan()).body;
    await finished((await request(app).post(`/plans/${first.id}/apply`).set(DEPLOYER)).body.id);
    const res = await request(app).post(`/plans/${second.id}/apply`).set(DEPLOYER);
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/stale plan/);
    expect((await request(app).post(`/plans/${first.id}/apply`).set(DEPLOYER)).status).toBe(409);
  });

  it('lets one of two racing applies run; the other is refused, never interleaved', async () => {
    const plans = [(await plan()).body, (await plan()).body];
    const answers = await Promise.all(plans.map((p) => request(app).post(`/plans/${p.id}/apply`).set(DEPLOYER)));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.body.detail).toMatch(/is being applied|stale plan/);
    const apply = await finished(answers.find((a) => a.status === 202)!.body.id);
    expect(apply.state).toBe('succeeded');
    expect((await request(app).get('/stacks/web/history').set(READER)).body.items).toHaveLength(1);
  });

  it('fails the step with the reason when the planned port is taken, and frees the lock', async () => {
    const squatter = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const taken = (squatter.address() as { port: number }).port;
    await repo.commit({ 'stacks/web.yaml': stackYaml(lb, taken) });
    const { apply } = await planAndApply();
    squatter.close();
    expect(apply.state).toBe('failed');
    expect(apply.steps[2]).toMatchObject({ resource: lb, state: 'failed' });
    expect(apply.error).toMatch(`port ${taken} is already in use`);
    expect((await request(app).get('/stacks/web/lock').set(READER)).status).toBe(404);
  });

  it('keeps a resource no longer defined unless the plan allows deleting it', async () => {
    await planAndApply();
    await repo.commit({ 'stacks/web.yaml': stackYaml(lb, port, { role: false }) });
    const kept = (await plan()).body.changes.find((c: { resource: string }) => c.resource === `${lb}-role`);
    expect(kept).toMatchObject({ action: 'no-op', note: expect.stringMatching(/allowDelete/) });
    const { plan: deleting, apply } = await planAndApply({ allowDelete: true });
    expect(deleting.changes.find((c: { resource: string }) => c.resource === `${lb}-role`).action).toBe('delete');
    expect(apply.state).toBe('succeeded');
    expect((await plan()).body.changes.map((c: { resource: string }) => c.resource)).not.toContain(`${lb}-role`);
  });
});

describe('GET /stacks/{stack}/drift', () => {
  it('reports what changed outside Slipway, field by field, and what went missing', async () => {
    await planAndApply();
    expect((await request(app).get('/stacks/web/drift').set(READER)).body.drifted).toBe(false);
    const current = (await cloud.getLoadBalancer(lb))!;
    await cloud.modifyLoadBalancer({
      ...current,
      targetGroup: { ...current.targetGroup, healthCheck: { ...current.targetGroup.healthCheck, path: '/' } },
    });
    await redis.hdel(`${prefix}local:iamRole`, `${lb}-role`);
    const drift = await request(app).get('/stacks/web/drift').set(READER);
    expect(drift.body.drifted).toBe(true);
    expect(drift.body.resources).toEqual([
      { resource: `${lb}-sg`, kind: 'securityGroup', status: 'in-sync', changes: [] },
      { resource: `${lb}-role`, kind: 'iamRole', status: 'missing', changes: [] },
      {
        resource: lb,
        kind: 'loadBalancer',
        status: 'changed',
        changes: [{ field: 'targetGroup.healthCheck.path', old: '/healthcheck', new: '/' }],
      },
    ]);
    expect((await request(app).get('/stacks').set(READER)).body.items[0].drift.drifted).toBe(true);
  });

  it('answers 404 for a stack never applied', async () => {
    expect((await request(app).get('/stacks/web/drift').set(READER)).status).toBe(404);
  });
});

describe('DELETE /stacks/{stack}/lock', () => {
  it('breaks a lock for an admin, records who did, and fences the old holder out', async () => {
    const locks = createRedisStackLocks({ redis, prefix, leaseMs: 60_000 });
    const held = await locks.acquire('web', 'apply-gone', 'someone');
    expect('token' in held).toBe(true);
    expect((await request(app).get('/stacks/web/lock').set(READER)).body).toMatchObject({ owner: 'apply-gone' });
    const planned = (await plan()).body;
    const refused = await request(app).post(`/plans/${planned.id}/apply`).set(DEPLOYER);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/apply-gone by someone/);
    expect((await request(app).delete('/stacks/web/lock').set(DEPLOYER)).status).toBe(403);
    const broken = await request(app).delete('/stacks/web/lock').set(ADMIN);
    expect(broken.status).toBe(200);
    expect(await locks.holds('web', (held as { token: number }).token)).toBe(false);
    const history = (await request(app).get('/stacks/web/history').set(READER)).body.items;
    expect(history[0]).toMatchObject({ type: 'lock-broken', by: 'ada', lock: { owner: 'apply-gone' } });
    expect((await request(app).post(`/plans/${planned.id}/apply`).set(DEPLOYER)).status).toBe(202);
  });
});

describe('GET /schemas/stack', () => {
  it('serves the schema stacks are validated against', async () => {
    const res = await request(app).get('/schemas/stack').set(READER);
    expect(res.status).toBe(200);
    expect(res.body.definitions.loadBalancer.required).toContain('targetGroup');
  });
});
