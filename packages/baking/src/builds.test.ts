import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CloudProvider } from '@slipway/cloud';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { eventually, gitRepo, startRedis, type TestGitRepo, type TestRedis } from '@slipway/test-utils';
import type { Express } from 'express';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from './app.js';
import { createRedisBakeStore } from './bakes.js';
import { announceFailedBuild } from './build-notify.js';
import { createRedisBuildStore } from './builds.js';
import { createRedisImageRegistry } from './images.js';
import { createLocalArtifactStore } from './artifacts.js';
import { createSourceRepositories, orchestratorClusters } from './repositories.js';

const CI = { Authorization: 'Bearer ci-token' };
const READER = { Authorization: 'Bearer reader-token' };
const WEBHOOK_SECRET = 'github-webhook-secret-1f2e';
// A secret per service: search's does not sign for suggest.
const WEBHOOK_SECRETS: Record<string, string> = { search: WEBHOOK_SECRET, suggest: 'suggest-webhook-secret-77aa' };
const tokens = createTokenVerifier({
  'ci-token': { subject: 'ci', role: 'ci' },
  'reader-token': { subject: 'rita', role: 'reader' },
});

let home: string;
let redisServer: TestRedis;
let redis: Redis;
let repo: TestGitRepo;
let app: Express;
const commits: string[] = [];
/** Whose running images baking asked the orchestrator about, in order. */
const runningAsked: string[] = [];
// The Slack incoming webhook, stood in for: it keeps what it is sent.
let slack: Server;
const slackMessages: Array<{ text: string; blocks: Array<{ type: string; elements?: Array<{ value: string }> }> }> = [];

beforeAll(async () => {
  // The repositories and the Slack stand-in are on this disk and this machine: the operator allows that here.
  process.env.SLIPWAY_ALLOW_PRIVATE_URLS = 'true';
  slack = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      slackMessages.push(JSON.parse(body) as (typeof slackMessages)[number]);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', resolve));
  const logger = createLogger({ name: 'baking', level: 'silent' });
  home = await mkdtemp(join(tmpdir(), 'slipway-builds-'));
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  repo = await gitRepo({ 'index.js': 'one' }, { message: 'First search' });
  commits.push(await repo.git('rev-parse', 'HEAD'));
  commits.push(await repo.commit({ 'index.js': 'two' }, 'Faster search\n\nWith a body.'));
  commits.push(await repo.commit({ 'index.js': 'three' }, 'Broken search'));
  const prefix = redisServer.prefix();
  // Only what the builds need is real here: Redis, the Git repository, the HTTP API.
  const images: Record<string, { version: string }> = { 'img-2': { version: '1.1.0' } };
  app = createApp({
    store: createRedisBakeStore({ redis, prefix }),
    artifacts: createLocalArtifactStore({ dir: join(home, 'artifacts'), maxBytes: 1024 }),
    cloud: { getImage: async (id: string) => images[id] } as unknown as CloudProvider,
    services: { exists: async (name) => ['search', 'suggest', 'ranking'].includes(name) },
    queue: { enqueue: async () => {}, remove: async () => false },
    serviceTemplateDigest: 'x',
    baseTemplateDigest: 'x',
    followConnection: () => redis.duplicate(),
    bakeTimeoutSeconds: 60,
    images: createRedisImageRegistry({ redis, prefix }),
    builds: createRedisBuildStore({ redis, prefix }),
    repositories: createSourceRepositories({ dir: join(home, 'repos') }),
    repoOf: async (service) => (service === 'search' ? repo.url : undefined),
    runningImages: async (service) => {
      runningAsked.push(service);
      return [{ env: 'prod', image: 'img-2', deployment: 'dep-serving01' }];
    },
    githubSecret: (service?: string) => WEBHOOK_SECRETS[service ?? 'search'],
    onFailed: (build, facts) =>
      announceFailedBuild(build, facts, {
        logger,
        slackUrl: async () => `http://127.0.0.1:${(slack.address() as AddressInfo).port}/webhook`,
      }),
    tokens,
    logger,
  });
});

afterAll(async () => {
  delete process.env.SLIPWAY_ALLOW_PRIVATE_URLS;
  await new Promise((resolve) => slack.close(resolve));
  await redis.quit();
  await redisServer.stop();
  await repo.remove();
  await rm(home, { recursive: true, force: true });
});

function github(
  event: string,
  payload: object,
  secret = WEBHOOK_SECRET,
  { service = 'search', delivery = randomUUID() }: { service?: string; delivery?: string } = {},
) {
  const body = JSON.stringify(payload);
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return request(app)
    .post(`/webhooks/github?service=${service}`)
    .set('Content-Type', 'application/json')
    .set('X-GitHub-Event', event)
    .set('X-GitHub-Delivery', delivery)
    .set('X-Hub-Signature-256', signature)
    .send(body);
}

/** The repository a GitHub delivery names: search's own (its repo property). */
const fromSearch = () => ({ html_url: 'https://github.com/example/search', clone_url: repo.url });

describe('POST /builds', () => {
  it('records what CI reports for a commit, merging later reports into it', async () => {
    const running = await request(app)
      .post('/builds')
      .set(CI)
      .send({ service: 'search', commit: commits[1], status: 'running', url: 'https://ci.example.com/runs/2' });
    expect(running.status).toBe(201);
    const passed = await request(app)
      .post('/builds')
      .set(CI)
      .send({ service: 'search', commit: commits[1], status: 'passed', version: '1.1.0' });
    expect(passed.body).toMatchObject({
      commit: commits[1],
      status: 'passed',
      url: 'https://ci.example.com/runs/2',
      version: '1.1.0',
      reportedBy: 'ci',
    });
  });

  it('answers 403 to a reader and 400 to a short commit id', async () => {
    const body = { service: 'search', commit: commits[0], status: 'passed' };
    expect((await request(app).post('/builds').set(READER).send(body)).status).toBe(403);
    const short = await request(app)
      .post('/builds')
      .set(CI)
      .send({ ...body, commit: 'abc' });
    expect(short.status).toBe(400);
    expect(short.type).toBe('application/problem+json');
  });
});

describe('POST /webhooks/github', () => {
  it('records a workflow_run signed with the webhook secret', async () => {
    const answer = await github('workflow_run', {
      action: 'completed',
      workflow_run: {
        head_sha: commits[2],
        status: 'completed',
        conclusion: 'failure',
        html_url: 'https://github.com/example/search/actions/runs/3',
      },
      repository: fromSearch(),
    });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ commit: commits[2], status: 'failed', reportedBy: 'github' });
  });

  it('refuses a body whose signature does not match, and records nothing', async () => {
    const answer = await github(
      'check_suite',
      {
        check_suite: { head_sha: commits[0], status: 'completed', conclusion: 'success' },
        repository: fromSearch(),
      },
      'another-secret',
    );
    expect(answer.status).toBe(401);
    const list = await request(app).get('/services/search/commits').set(READER);
    expect(list.body.items.find((c: { commit: string }) => c.commit === commits[0]).build).toBeUndefined();
  });

  it('answers a ping', async () => {
    expect((await github('ping', { zen: 'Keep it logically awesome.' })).status).toBe(200);
  });
});

describe('GET /services/{service}/commits', () => {
  it('lists the commits with author, build, version and where each runs now', async () => {
    const answer = await request(app).get('/services/search/commits').set(READER);
    expect(answer.status).toBe(200);
    expect(answer.body.repo).toBe(repo.url);
    expect(answer.body.items).toEqual([
      {
        commit: commits[2],
        message: 'Broken search',
        author: 'Test Author',
        date: expect.any(String),
        build: {
          status: 'failed',
          url: 'https://github.com/example/search/actions/runs/3',
          reportedAt: expect.any(String),
        },
        runningIn: [],
      },
      {
        commit: commits[1],
        message: 'Faster search',
        author: 'Test Author',
        date: expect.any(String),
        build: { status: 'passed', url: 'https://ci.example.com/runs/2', reportedAt: expect.any(String) },
        version: '1.1.0',
        runningIn: ['prod'],
      },
      { commit: commits[0], message: 'First search', author: 'Test Author', date: expect.any(String), runningIn: [] },
    ]);
  });
});

describe('GET /commits', () => {
  it('lists the newest built commits of every service in one request, asking only about the services it lists', async () => {
    const other = 'd'.repeat(40);
    const reported = await request(app)
      .post('/builds')
      .set(CI)
      .send({ service: 'ranking', commit: other, status: 'passed', url: 'https://ci.example.com/runs/9' });
    expect(reported.status).toBe(201);
    runningAsked.length = 0;
    const answer = await request(app).get('/commits?limit=3').set(READER);
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual([
      {
        service: 'ranking',
        commit: other,
        build: { status: 'passed', url: 'https://ci.example.com/runs/9', reportedAt: expect.any(String) },
        runningIn: [],
      },
      expect.objectContaining({ service: 'search', commit: commits[2], message: 'Broken search' }),
      expect.objectContaining({ service: 'search', commit: commits[1], version: '1.1.0', runningIn: ['prod'] }),
    ]);
    // Where each runs was asked once a service listed, not once a commit or once a service registered.
    expect(runningAsked.sort()).toEqual(['ranking', 'search']);
  });
});

describe('GET /services/{service}/versions/{version}/contains/{commit}', () => {
  it('tells whether an artifact was built with a commit in its history', async () => {
    const older = await request(app).get(`/services/search/versions/1.1.0/contains/${commits[0]}`).set(READER);
    expect(older.body).toEqual({
      service: 'search',
      version: '1.1.0',
      source: commits[1],
      commit: commits[0],
      contains: true,
    });
    const newer = await request(app).get(`/services/search/versions/1.1.0/contains/${commits[2]}`).set(READER);
    expect(newer.body.contains).toBe(false);
    const unknown = await request(app).get(`/services/search/versions/9.9.9/contains/${commits[2]}`).set(READER);
    expect(unknown.status).toBe(404);
  });
});

describe('which artifact holds a commit, without a repository', () => {
  it('knows an artifact holds its own commit, and cannot tell any other', async () => {
    const repositories = createSourceRepositories({ dir: join(home, 'no-repos') });
    const tip = 'd4e18d3714e5'.padEnd(40, '0');
    expect(await repositories.contains('other', undefined, tip, tip)).toBe(true);
    expect(await repositories.contains('other', undefined, tip, tip.slice(0, 12))).toBe(true);
    expect(await repositories.contains('other', undefined, tip, '87fdf226f80d')).toBeUndefined();
  });
});

describe('a failed build', () => {
  it('is told to Slack with a Revert button for each environment whose artifact contains it', async () => {
    const failed = await request(app)
      .post('/builds')
      .set(CI)
      .send({ service: 'search', commit: commits[0], status: 'failed', url: 'https://ci.example.com/runs/1' });
    expect(failed.status).toBe(201);
    await eventually(
      async () => slackMessages.find((m) => m.text.includes(commits[0]!.slice(0, 12))),
      (m) => m !== undefined,
      'the failed-build message',
    );
    const message = slackMessages.find((m) => m.text.includes(commits[0]!.slice(0, 12)))!;
    expect(message.text).toBe(
      `:x: build of search ${commits[0]!.slice(0, 12)} "First search" by Test Author failed — https://ci.example.com/runs/1; it runs in prod`,
    );
    const buttons = message.blocks.find((b) => b.type === 'actions')!.elements!;
    // It names the deployment serving then: a Revert pressed once another serves is refused.
    expect(buttons.map((b) => JSON.parse(b.value))).toEqual([
      { service: 'search', env: 'prod', commit: commits[0], deployment: 'dep-serving01' },
    ]);
  });
});

describe('orchestratorClusters', () => {
  it("reads which image each environment runs from the orchestrator's GET /clusters of that service alone, with its token", async () => {
    // The orchestrator stood in for by its answer as its document gives it: one cluster with
    // nothing active, one of another service.
    const seen: Array<string | undefined> = [];
    const asked: Array<string | undefined> = [];
    const orchestrator = createServer((req, res) => {
      seen.push(req.headers.authorization);
      asked.push(req.url);
      if (req.headers.authorization !== 'Bearer baking-token') {
        res.writeHead(401, { 'Content-Type': 'application/problem+json' }).end('{"title":"no"}');
        return;
      }
      const group = (image: string) => ({ name: `g-${image}`, disabled: false, capacity: {}, image, instances: [] });
      const cluster = (service: string, env: string, active: object | null) => ({
        service,
        env,
        active,
        retained: [],
        health: {},
      });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(
        JSON.stringify({
          items: [
            cluster('search', 'prod', group('img-2')),
            cluster('search', 'staging', null),
            cluster('other', 'prod', group('img-9')),
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => orchestrator.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(orchestrator.address() as AddressInfo).port}`;
      expect(await orchestratorClusters(url, 'baking-token')('search')).toEqual([{ env: 'prod', image: 'img-2' }]);
      expect(await orchestratorClusters(url, 'wrong-token')('search')).toEqual([]);
      expect(seen).toEqual(['Bearer baking-token', 'Bearer wrong-token']);
      // Not every cluster of the catalog (each described with calls to its cloud) to answer about one service.
      expect(asked).toEqual(['/clusters?service=search', '/clusters?service=search']);
    } finally {
      await new Promise((resolve) => orchestrator.close(resolve));
    }
  });
});

describe('GitHub deliveries (#24 attack 7)', () => {
  const run = (sha: string, conclusion: string, repository: object = fromSearch()) => ({
    action: 'completed',
    workflow_run: {
      head_sha: sha,
      status: 'completed',
      conclusion,
      html_url: 'https://github.com/example/search/actions/runs/9',
    },
    repository,
  });
  const buildOf = async (service: string, sha: string) =>
    (await request(app).get(`/services/${service}/commits`).set(READER)).body.items.find(
      (c: { commit: string }) => c.commit === sha,
    )?.build?.status;

  it('acts on a delivery once: the same delivery sent again is refused and changes nothing', async () => {
    const sha = '1'.repeat(40);
    const delivery = randomUUID();
    expect((await github('workflow_run', run(sha, 'success'), WEBHOOK_SECRET, { delivery })).status).toBe(201);
    // CI says otherwise since; the old delivery sent again must not put "passed" back.
    await request(app).post('/builds').set(CI).send({ service: 'search', commit: sha, status: 'running' });
    const again = await github('workflow_run', run(sha, 'success'), WEBHOOK_SECRET, { delivery });
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/received already/);
    expect(await buildOf('search', sha)).toBe('running');
  });

  it("refuses a body signed with one service's secret sent for another (?service= is outside the signature)", async () => {
    const sha = '2'.repeat(40);
    const answer = await github('workflow_run', run(sha, 'failure'), WEBHOOK_SECRET, { service: 'suggest' });
    expect(answer.status).toBe(401);
    expect(answer.body.detail).toMatch(/suggest's webhook secret/);
    expect(await buildOf('suggest', sha)).toBeUndefined();
  });

  it("refuses a delivery about another repository than the service's own, and records nothing", async () => {
    const sha = '3'.repeat(40);
    const fork = { html_url: 'https://github.com/mallory/search', full_name: 'mallory/search' };
    const answer = await github('workflow_run', run(sha, 'failure', fork));
    expect(answer.status).toBe(403);
    expect(answer.body.detail).toMatch(/about mallory\/search, not search's repository/);
    expect(await buildOf('search', sha)).toBeUndefined();
  });
});

describe('build repositories (#24 attacks 9 and 10)', () => {
  it('refuses a repository on this disk or on a host the operator did not allow, and clones nothing', async () => {
    delete process.env.SLIPWAY_ALLOW_PRIVATE_URLS;
    const other = await gitRepo({ 'plans.md': 'secret' }, { message: 'Another team: private plans' });
    try {
      for (const url of [
        other.url,
        `file://${home}/../../etc`,
        'https://10.0.0.5/search.git',
        'https://git.internal.example/search.git',
        'http://github.com/example/search.git',
        'git://github.com/example/search.git',
      ]) {
        const sha = '4'.repeat(40);
        const answer = await request(app)
          .post('/builds')
          .set(CI)
          .send({ service: 'suggest', commit: sha, status: 'passed', repo: url });
        expect({ url, status: answer.status }).toEqual({ url, status: 422 });
        expect(answer.body.detail).toMatch(/cannot be cloned by the platform: /);
      }
      const listed = await request(app).get('/services/suggest/commits').set(READER);
      expect(JSON.stringify(listed.body)).not.toMatch(/private plans/i);
      expect(listed.body.items).toEqual([]);
    } finally {
      process.env.SLIPWAY_ALLOW_PRIVATE_URLS = 'true';
      await other.remove();
    }
  });

  it("refuses a report naming another repository than the service's own, as a GitHub delivery is, and records nothing", async () => {
    // A ci token of any team's CI would otherwise tie search's commit (and version, which stays
    // once given) to a fork: its image's source, the dashboard's commits and a revert's choice.
    const sha = '6'.repeat(40);
    const answer = await request(app).post('/builds').set(CI).send({
      service: 'search',
      commit: sha,
      status: 'passed',
      version: '7.7.7',
      repo: 'https://github.com/mallory/search.git',
    });
    expect(answer.status).toBe(403);
    expect(answer.type).toBe('application/problem+json');
    expect(answer.body.detail).toMatch(/github\.com\/mallory\/search\.git is not search's repository/);
    expect((await request(app).get('/services/search/versions/7.7.7/build').set(READER)).status).toBe(404);
    // Its own repository, named as the service names it, is recorded.
    const own = await request(app)
      .post('/builds')
      .set(CI)
      .send({ service: 'search', commit: sha, status: 'passed', repo: repo.url });
    expect(own.status).toBe(201);
  });

  it('keeps and shows a repository without the credentials its URL carried (a CI origin)', async () => {
    const sha = '5'.repeat(40);
    const answer = await request(app).post('/builds').set(CI).send({
      service: 'suggest',
      commit: sha,
      status: 'passed',
      version: '9.9.9',
      repo: 'https://gitlab-ci-token:glcbt-s3cr3t-64@gitlab.example.test/example/suggest.git',
    });
    expect(answer.status).toBe(201);
    expect(answer.body.repo).toBe('https://gitlab.example.test/example/suggest.git');
    const shown = [
      await request(app).get('/services/suggest/versions/9.9.9/build').set(READER),
      await request(app).get('/services/suggest/commits').set(READER),
    ];
    expect(shown.map((r) => r.status)).toEqual([200, 200]);
    expect(JSON.stringify(shown.map((r) => r.body))).not.toContain('s3cr3t');
    expect(shown[1]!.body.repo).toBe('https://gitlab.example.test/example/suggest.git');
  });
});

describe('a build link (#24 attack 5)', () => {
  it('is refused unless it is http(s): a ci token cannot store javascript: for the dashboard to link', async () => {
    for (const url of ['javascript:alert(document.cookie)', 'data:text/html;base64,PHNjcmlwdD4xPC9zY3JpcHQ+']) {
      const answer = await request(app)
        .post('/builds')
        .set(CI)
        .send({ service: 'suggest', commit: '6'.repeat(40), status: 'failed', url });
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body.errors)).toMatch(/url/);
    }
    const listed = await request(app).get('/services/suggest/commits').set(READER);
    expect(JSON.stringify(listed.body)).not.toMatch(/javascript:|data:text/);
  });
});

describe('a bake key claimed by one bake at a time', () => {
  it('unclaims only its own claim: one another bake took between the look and the delete stays', async () => {
    const key = `race-${randomUUID()}`;
    // bake-a's claim lapses (its TTL) and bake-b claims the key just after bake-a's unclaim first
    // reached Redis (whatever that command was: a look, or the whole step).
    let armed = false;
    const racing = new Proxy(redis, {
      get(target, property, receiver) {
        const real = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'get' && property !== 'eval') return real;
        return async (...args: unknown[]) => {
          const answer = await (real as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (armed) {
            armed = false;
            await target.set(`unclaim-test:running:${key}`, 'bake-b');
          }
          return answer;
        };
      },
    });
    const store = createRedisBakeStore({ redis: racing, prefix: 'unclaim-test:' });
    expect(await store.claim(key, 'bake-a', 60)).toBeUndefined();
    armed = true;
    await store.unclaim(key, 'bake-a');
    expect(await store.claim(key, 'bake-c', 60)).toBe('bake-b');
  });
});
