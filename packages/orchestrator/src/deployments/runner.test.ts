import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { CloudProvider } from '@slipway/cloud';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis, fenceKeyOf, lockKeyOf } from '@slipway/core/redis';
import { eventually, standInCloud, startRedis, type TestRedis } from '@slipway/test-utils';
import { createApp } from '../app.js';
import { submitDeployment } from './commands.js';
import { standInPeers } from './runner.fixture.js';
import { startRunner, type Runner } from './runner.js';
import { createRedisDeploymentStore, type DeploymentStore } from './store.js';

// The runner against a real Redis and BullMQ, with a cloud whose instances are one HTTP server and
// peers that answer at once: the races, not the cloud, are what these look at.
let redisServer: TestRedis;
let redis: Redis;
let instance: Server;
let store: DeploymentStore;
let runner: Runner;
let prefix: string;
const logger = createLogger({ name: 'orchestrator', level: 'silent' });
const LEASE_MS = 2000;
const saves: { deployment: string; mode?: string; events: string[] }[] = [];

const peers = standInPeers;

let cloud: CloudProvider;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  instance = createServer((_req, res) => res.end('ok')).listen(0, '127.0.0.1');
  await new Promise((resolve) => instance.once('listening', resolve));
  cloud = standInCloud({ address: `127.0.0.1:${(instance.address() as AddressInfo).port}` })
    .cloud as unknown as CloudProvider;
  prefix = redisServer.prefix();
  const real = createRedisDeploymentStore({ redis, prefix, leaseMs: LEASE_MS });
  // Every fenced save, as the runner made it: which deployment, in what mode, with which events.
  store = {
    ...real,
    transition(d, options = {}) {
      const events = [...(options.events ?? []), ...(options.event ? [options.event] : [])];
      saves.push({ deployment: d.id, mode: options.mode, events: events.map((e) => `${e.type} ${e.action ?? ''}`) });
      return real.transition(d, options);
    },
  };
  runner = startRunner({
    redisUrl: redisServer.url,
    queuePrefix: `${prefix}queue`,
    store,
    cloud,
    peers,
    logger,
    slots: 2,
    pollMs: 20,
    jobLockMs: 2000,
    sweepMs: 200,
    renewMs: 500,
    notifier: { notify: async () => undefined },
  });
});

afterAll(async () => {
  await runner.close();
  instance.close();
  await redis.quit();
  await redisServer.stop();
});

const submit = (service: string, queue = false) =>
  submitDeployment(
    { store, runner, peers, cloud, slots: 2 },
    { service, env: 'prod', image: `img-${service}`, message: 'race', queue },
    'dave',
  );

const ended = (id: string) =>
  eventually(
    () => store.get(id),
    (d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d?.state ?? ''),
    `deployment ${id}`,
  );

describe('the hand-off between actions', () => {
  it("runs an action's successor in the same run: its end and the next one's start are one fenced save", async () => {
    const d = (await ended((await submit('handoff')).id))!;
    expect(d.state).toBe('succeeded');
    const mine = saves.filter((s) => s.deployment === d.id);
    const names = d.actions.map((a) => a.name);
    // Each action but the last ends in the save that starts the next one, never on its own.
    const handOffs = mine.filter((s) => s.events.some((e) => e.startsWith('action-finished')));
    expect(handOffs.map((s) => s.events)).toEqual([
      ...names.slice(0, -1).map((name, i) => [`action-finished ${name}`, `action-started ${names[i + 1]}`]),
      [`action-finished ${names.at(-1)}`],
    ]);
    expect(handOffs.slice(0, -1).every((s) => s.mode === 'advance')).toBe(true);
    expect(d.run ?? 1).toBe(1);
    expect(d.actions.every((a) => a.attempts === 1)).toBe(true);
  });
});

describe('stale writers', () => {
  it('never runs a cancelled deployment on, nor two on one service+env, when a cancel races the admission (50 times)', async () => {
    for (let i = 0; i < 50; i++) {
      const first = await submit('race');
      const cancel = (async () => {
        await runner.control(first.id, 'cancel', 'dave', { by: 'dave' });
      })();
      const [, second] = await Promise.all([cancel, submit('race', true)]);
      const [a, b] = [await ended(first.id), await ended(second.id)];
      expect({ i, a: a!.state, b: b!.state }).toEqual({ i, a: 'cancelled', b: 'succeeded' });
      // Nothing of the cancelled one happened after it ended…
      const events = (await store.events(first.id)).map((e) => e.event.type);
      expect(events.slice(events.indexOf('finished') + 1)).toEqual([]);
      // …and the next one started only after it.
      expect(Date.parse(b!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(a!.finishedAt!));
      expect(a!.actions.filter((x) => x.state === 'pending' || x.state === 'running')).toEqual([]);
    }
    expect(await store.holder('race', 'prod')).toBeUndefined();
    expect(await store.running()).toEqual([]);
  }, 120_000);
});

describe('leases', () => {
  it('reclaims a lock and slot whose deployment was never saved, well within the lock lease', async () => {
    await redis.hset(lockKeyOf(prefix, 'leak:prod'), { token: 1, owner: 'dep-ghost', holder: 'nobody', since: '' });
    await redis.pexpire(lockKeyOf(prefix, 'leak:prod'), 60_000);
    await redis.set(fenceKeyOf(prefix, 'leak:prod'), 1);
    await redis.zadd(`${prefix}running`, Date.now() + 60_000, 'dep-ghost');
    await eventually(
      () => redis.exists(lockKeyOf(prefix, 'leak:prod')),
      (held) => held === 0,
      'the reclaim',
      10_000,
    );
    expect(await store.running()).not.toContain('dep-ghost');
    expect((await ended((await submit('leak')).id))!.state).toBe('succeeded');
  });

  it('lets an admin break a lock, recorded with who and why, and fences the holder out', async () => {
    const tokens = createTokenVerifier({
      'admin-token': { subject: 'ada', role: 'admin' },
      'deployer-token': { subject: 'dave', role: 'deployer' },
    });
    const app = createApp({
      // The release routes are not asked here.
      releases: {} as never,
      coordinator: {} as never,
      images: {} as never,
      store,
      runner,
      peers,
      cloud,
      slots: 2,
      followConnection: () => redis.duplicate(),
      tokens,
      logger,
    });
    const held = await submit('broken');
    await runner.control(held.id, 'pause', 'dave', { by: 'dave' });
    await eventually(
      () => store.get(held.id),
      (d) => d?.state === 'paused',
      'the pause',
    );
    const path = '/services/broken/envs/prod/lock';
    const denied = await request(app).delete(`${path}?reason=stuck`).set({ Authorization: 'Bearer deployer-token' });
    expect(denied.status).toBe(403);
    const broken = await request(app)
      .delete(`${path}?reason=${encodeURIComponent('its worker is gone')}`)
      .set({ Authorization: 'Bearer admin-token' });
    expect(broken.status).toBe(200);
    expect(broken.body).toMatchObject({ owner: held.id, brokenBy: 'ada', reason: 'its worker is gone' });
    const after = await request(app).get(path).set({ Authorization: 'Bearer admin-token' });
    expect(after.body).toMatchObject({ lock: null, broken: [{ owner: held.id, brokenBy: 'ada' }] });
    expect(await store.running()).not.toContain(held.id);
    // Resumed, it finds its lock gone: it ends where it stood.
    await runner.resume(held.id);
    const done = await ended(held.id);
    expect(done).toMatchObject({ state: 'failed', reason: expect.stringMatching(/lock/) });
    expect(
      (await request(app).delete(`${path}?reason=again`).set({ Authorization: 'Bearer admin-token' })).status,
    ).toBe(404);
  });
});

describe('what a deployer may ask of a deployment (#24)', () => {
  // An address inside the platform's network that answers secrets (the instance metadata service's way).
  let secrets: Server;
  let secretsUrl: string;
  let asked = 0;
  let app: ReturnType<typeof createApp>;
  const deployer = { Authorization: 'Bearer deployer-token' };
  const admin = { Authorization: 'Bearer admin-token' };
  const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
  const appWith = (withPeers: typeof peers) =>
    createApp({
      releases: {} as never,
      coordinator: {} as never,
      images: {} as never,
      store,
      runner,
      peers: withPeers,
      cloud,
      slots: 2,
      followConnection: () => redis.duplicate(),
      tokens: createTokenVerifier({
        'admin-token': { subject: 'ada', role: 'admin' },
        'deployer-token': { subject: 'dave', role: 'deployer' },
      }),
      logger,
    });

  beforeAll(async () => {
    secrets = createServer((_req, res) => {
      asked++;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ AccessKeyId: 'ASIAEXAMPLE', SecretAccessKey: SECRET, status: 'ok' }));
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => secrets.once('listening', resolve));
    secretsUrl = `http://127.0.0.1:${(secrets.address() as AddressInfo).port}/latest/meta-data/iam/security-credentials/role`;
    app = appWith(peers);
  });

  afterAll(() => void secrets.close());

  const deploy = (service: string, params: Record<string, unknown>, as = deployer) =>
    request(app)
      .post('/deployments')
      .set(as)
      .send({ service, env: 'prod', image: `img-${service}`, message: 'attack', params });
  const check = (url: string) => ({
    checks: [{ name: 'steal', type: 'web', url, condition: '== 1', failureLimit: 1 }],
  });

  it('refuses a web check on a loopback, link-local or private address, and starts nothing (attack 1)', async () => {
    for (const url of [
      secretsUrl,
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://169.254.170.2/v2/credentials/',
      'http://[::1]:9/',
      'http://localhost:9/',
      'http://10.1.2.3/',
      'http://[::ffff:127.0.0.1]:9/',
    ]) {
      const answer = await deploy('ssrf', check(url));
      expect({ url, status: answer.status }).toEqual({ url, status: 422 });
      expect(answer.body.detail).toMatch(/check steal: .* is not allowed: .*(loopback|linkLocal|private)/);
    }
    expect((await store.list({ service: 'ssrf', limit: 10 })).items).toEqual([]);
    expect(asked).toBe(0);
  });

  it('says a failed check by its name and status, never the body it was answered (attack 1)', async () => {
    // An operator who allows private addresses (SLIPWAY_ALLOW_PRIVATE_URLS) still never shows a body.
    process.env.SLIPWAY_ALLOW_PRIVATE_URLS = 'true';
    try {
      const started = await deploy('leak', check(secretsUrl));
      expect(started.status).toBe(202);
      const done = await ended(started.body.id);
      expect(['failed', 'rolled-back']).toContain(done!.state);
      expect(done!.reason).toMatch(/check steal: the value is not == 1/);
      expect(JSON.stringify(done)).not.toContain(SECRET);
      expect(JSON.stringify(await store.events(started.body.id))).not.toContain(SECRET);
    } finally {
      delete process.env.SLIPWAY_ALLOW_PRIVATE_URLS;
    }
  });

  it("lets only an admin choose the instances' IAM instance profile (attack 13)", async () => {
    const refused = await deploy('profile', { instanceProfile: 'platform-admin' });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/instanceProfile .* needs the admin role/);
    expect((await store.list({ service: 'profile', limit: 10 })).items).toEqual([]);
    const allowed = await deploy('profile', { instanceProfile: 'platform-admin' }, admin);
    expect(allowed.status).toBe(202);
    expect((await ended(allowed.body.id))!.state).toBe('succeeded');
  });

  it("lets a deployer's config branch choose no instance profile, load balancer or security groups the default branch does not (#24 follow-up)", async () => {
    // The attack: a branch of the config repo (anyone who may push one) names another profile, and a
    // deployer deploys that branch: the same power params.instanceProfile needs the admin role for.
    const branched = appWith({
      ...peers,
      config: async (service: string, env: string, ref?: string) => {
        const base = await peers.config(service, env, ref);
        if (ref !== 'evil' && ref !== 'e'.repeat(40)) return base;
        const params = base.deploymentParams!;
        return {
          ...base,
          commit: 'e'.repeat(40),
          deploymentParams: { ...params, instanceProfile: 'platform-admin' },
        };
      },
    });
    const body = (configRef: string) => ({
      service: 'branchy',
      env: 'prod',
      image: 'img-branchy',
      message: 'b',
      configRef,
    });
    const refused = await request(branched).post('/deployments').set(deployer).send(body('evil'));
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(
      /^config evil names instanceProfile platform-admin, the default branch names none: .* needs the admin role .*; dave has deployer$/,
    );
    expect((await store.list({ service: 'branchy', limit: 10 })).items).toEqual([]);
    // A branch that changes nothing of these is a deployer's to deploy; an admin deploys either.
    const same = await request(branched).post('/deployments').set(deployer).send(body('feature'));
    expect(same.status).toBe(202);
    expect((await ended(same.body.id))!.state).toBe('succeeded');
    const allowed = await request(branched).post('/deployments').set(admin).send(body('evil'));
    expect(allowed.status).toBe(202);
    expect((await ended(allowed.body.id))!.state).toBe('succeeded');
  });

  it("lets only an admin choose the load balancer and security groups, for deployments and releases (another cluster's target group)", async () => {
    // The attack: staging's deployment names prod's load balancer, and its instances join prod's
    // target group (or prod's security groups), with none of prod's confirmation or approvers.
    for (const params of [{ loadBalancer: { name: 'lb-victim' } }, { securityGroups: ['victim-db-access'] }]) {
      const refused = await deploy('joiner', params);
      expect(refused.status).toBe(403);
      expect(refused.body.detail).toMatch(
        new RegExp(`^params\\.${Object.keys(params)[0]} .* needs the admin role .*; dave has deployer$`),
      );
      const release = await request(app)
        .post('/releases')
        .set(deployer)
        .send({ message: 'attack', items: [{ service: 'joiner', image: 'img-joiner', env: 'staging' }], params });
      expect(release.status).toBe(403);
      expect(release.body.detail).toMatch(new RegExp(`^params\\.${Object.keys(params)[0]} `));
    }
    expect((await store.list({ service: 'joiner', limit: 10 })).items).toEqual([]);
    const allowed = await deploy('joiner', { loadBalancer: { name: 'lb-joiner' } }, admin);
    expect(allowed.status).toBe(202);
    expect((await ended(allowed.body.id))!.state).toBe('succeeded');
  });
});
