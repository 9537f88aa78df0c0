import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { gitRepo, type TestGitRepo } from '@slipway/test-utils';
import { createApp } from './app.js';
import { createGitConfigSource, type ConfigSource } from './source.js';

const READER = { Authorization: 'Bearer reader-token' };
const DEPLOYER = { Authorization: 'Bearer deployer-token' };
const tokens = createTokenVerifier({
  'reader-token': { subject: 'rita', role: 'reader' },
  'deployer-token': { subject: 'dave', role: 'deployer' },
});

const params = (desired: number, extra: object = {}) => ({
  capacity: { min: 1, desired, max: 10 },
  healthCheck: { path: '/healthcheck' },
  loadBalancer: { name: 'search' },
  ...extra,
});

let sources: string;
let prod: TestGitRepo;
let staging: TestGitRepo;
let first: string;
let second: string;

beforeAll(async () => {
  sources = await mkdtemp(join(tmpdir(), 'slipway-config-sources-'));
  prod = await gitRepo(
    {
      'application-properties.json': { search: { backend: 'solr', timeoutMs: 500 }, greeting: 'hello world' },
      'deployment-params.json': params(2),
      'launch-data.json': ['echo one', 'echo two'],
    },
    { dir: join(sources, 'search-prod'), message: 'First configuration' },
  );
  first = await prod.git('rev-parse', 'HEAD');
  await prod.git('tag', 'v1');
  second = await prod.commit(
    {
      'application-properties.json': { search: { backend: 'elastic', timeoutMs: 500 }, newFlag: true },
      'deployment-params.json': params(4),
      'launch-data.json': ['echo one', 'echo three'],
      'notes/readme.txt': 'notes',
    },
    'Making everything faster',
  );
  staging = await gitRepo({ 'deployment-params.json': params(1) }, { dir: join(sources, 'search-staging') });
});

afterAll(async () => {
  await rm(sources, { recursive: true, force: true });
});

let home: string;
let source: ConfigSource;
let app: Express;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-config-home-'));
  source = createGitConfigSource({
    urlTemplate: `file://${sources}/{service}-{env}`,
    clonesDir: join(home, 'config'),
    logger: createLogger({ name: 'config', level: 'silent' }),
    refreshSeconds: 0,
  });
  app = createApp({
    source,
    tokens,
    logger: createLogger({ name: 'config', level: 'silent' }),
    webhookSecret: 's3cret',
  });
});

afterEach(async () => {
  source.close();
  await rm(home, { recursive: true, force: true });
});

function expectProblem(res: request.Response, status: number, detail: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.detail).toMatch(detail);
}

describe('GET /config/{service}/{env}', () => {
  it('answers the default branch, parsed and validated, with the commit as ETag', async () => {
    const res = await request(app).get('/config/search/prod').set(READER);
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe(`"${second}"`);
    expect(res.headers['x-config-fetched-at']).toBeTruthy();
    expect(res.headers.warning).toBeUndefined();
    expect(res.body).toMatchObject({
      service: 'search',
      env: 'prod',
      ref: 'main',
      commit: second,
      author: 'Test Author',
      message: 'Making everything faster',
      valid: true,
      errors: [],
      files: {
        applicationProperties: { search: { backend: 'elastic', timeoutMs: 500 }, newFlag: true },
        deploymentParams: params(4),
        launchData: ['echo one', 'echo three'],
      },
    });
  });

  it('resolves a tag, a commit and a short commit', async () => {
    for (const ref of ['v1', first, first.slice(0, 8)]) {
      const res = await request(app).get(`/config/search/prod?ref=${ref}`).set(READER);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ ref, commit: first, message: 'First configuration' });
      expect(res.body.files.deploymentParams.capacity.desired).toBe(2);
    }
  });

  it('reads the default branch as a branch: a tag pushed with its name is not it', async () => {
    const repo = await gitRepo({ 'deployment-params.json': params(2) }, { dir: join(sources, 'tagged-prod') });
    const main = await repo.git('rev-parse', 'HEAD');
    // Anyone who may push a tag names one like the default branch, at a commit of their own.
    const theirs = await repo.commit(
      { 'deployment-params.json': params(2, { instanceProfile: 'admin-role' }) },
      'Mine',
    );
    await repo.git('tag', 'main', theirs);
    await repo.git('reset', '--hard', main);
    const res = await request(app).get('/config/tagged/prod').set(READER);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ref: 'main', commit: main });
    expect(res.body.files.deploymentParams.instanceProfile).toBeUndefined();
  });

  it('answers 304 when If-None-Match is the commit', async () => {
    const res = await request(app)
      .get(`/config/search/prod?ref=${first}`)
      .set(READER)
      .set('If-None-Match', `"${first}"`);
    expect(res.status).toBe(304);
  });

  it('answers 304 when If-None-Match lists the commit among others, weakly, or is *; 200 for another commit', async () => {
    const ask = (value: string) =>
      request(app).get(`/config/search/prod?ref=${first}`).set(READER).set('If-None-Match', value);
    for (const value of [`"${second}", "${first}"`, `W/"${first}"`, '*']) {
      const res = await ask(value);
      expect([value, res.status, res.headers.etag]).toEqual([value, 304, `"${first}"`]);
    }
    expect((await ask(`"${second}"`)).status).toBe(200);
  });

  it('answers 404 for an unknown repository or ref', async () => {
    expectProblem(
      await request(app).get('/config/search/qa').set(READER),
      404,
      /no configuration repository search-qa/,
    );
    expectProblem(await request(app).get('/config/search/prod?ref=nope').set(READER), 404, /no ref 'nope'/);
  });

  it.each(['-n', '--output=/tmp/x', 'main..v1', 'main@{1}', 'has%20space', 'a%0Ab', 'x%3By'])(
    'answers 400 for the ref %s before Git sees it',
    async (ref) => {
      expectProblem(await request(app).get(`/config/search/prod?ref=${ref}`).set(READER), 400, /invalid ref/);
    },
  );

  it('answers 400 for a bad service or environment name', async () => {
    expectProblem(await request(app).get('/config/Search/prod').set(READER), 400, /lowercase letters and digits/);
    expectProblem(await request(app).get('/config/search/-prod').set(READER), 400, /\/path\/env/);
  });

  it('answers 401 without a token', async () => {
    expect((await request(app).get('/config/search/prod')).status).toBe(401);
  });

  it('says valid: false with the reason for broken files, not 500', async () => {
    const broken = await gitRepo(
      {
        'application-properties.json': '{ "a": ',
        'deployment-params.json': {
          capacity: { min: 3, desired: 2 },
          healthCheck: { path: 'no-slash' },
          strategy: { name: 'yolo' },
        },
        'launch-data.json': [1, 2],
      },
      { dir: join(sources, 'broken-prod') },
    );
    const res = await request(app).get('/config/broken/prod').set(READER);
    expect(res.status).toBe(200);
    expect(res.body.valid).toBe(false);
    expect(res.body.files.applicationProperties).toBeNull();
    const errors = res.body.errors as Array<{ file: string; path: string; message: string }>;
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          file: 'application-properties.json',
          message: expect.stringMatching(/not valid JSON/),
        }),
        expect.objectContaining({ file: 'deployment-params.json', path: '/loadBalancer', message: 'is required' }),
        expect.objectContaining({ file: 'deployment-params.json', path: '/healthCheck/path' }),
        expect.objectContaining({
          file: 'deployment-params.json',
          path: '/strategy/name',
          message: expect.stringMatching(/one of/),
        }),
        expect.objectContaining({ file: 'launch-data.json', path: '/0' }),
      ]),
    );
    await broken.remove();
  });

  it('answers many concurrent reads of different refs', async () => {
    const refs = ['main', 'v1', first, second, first.slice(0, 10)];
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(app)
          .get(`/config/search/prod?ref=${refs[i % refs.length]}`)
          .set(READER),
      ),
    );
    expect(answers.every((res) => res.status === 200)).toBe(true);
    expect(new Set(answers.map((res) => res.body.commit))).toEqual(new Set([first, second]));
  });
});

describe('a deploy reads right after a push (Cache-Control: no-cache)', () => {
  it('sees a push of a moment ago, even with a fetch of a moment before it still running, where a plain read may not', async () => {
    const qa = await gitRepo({ 'deployment-params.json': params(1) }, { dir: join(home, 'own', 'search-qa') });
    // A clone fetched at most once an hour on its own: only no-cache can make it see the push.
    const hourly = createGitConfigSource({
      urlTemplate: `file://${home}/own/{service}-{env}`,
      clonesDir: join(home, 'hourly'),
      logger: createLogger({ name: 'config', level: 'silent' }),
      refreshSeconds: 0,
      maxAgeSeconds: 3600,
    });
    const hourlyApp = createApp({ source: hourly, tokens, logger: createLogger({ name: 'config', level: 'silent' }) });
    try {
      const commitOf = async (headers: Record<string, string>) =>
        (await request(hourlyApp).get('/config/search/qa').set(READER).set(headers)).body.commit as string;
      const before = await commitOf({});
      const pushed = await qa.commit({ 'deployment-params.json': params(9) }, 'Push');
      expect(await commitOf({})).toBe(before); // the clone as it was: fetched under an hour ago
      expect(await commitOf({ 'Cache-Control': 'no-cache' })).toBe(pushed);
      for (let i = 0; i < 3; i++) {
        // A fetch starts (the background refresh, another read) and the push lands while it may run.
        const running = hourly.refresh({ service: 'search', env: 'qa' });
        const next = await qa.commit({ 'deployment-params.json': params(10 + i) }, `Push ${i}`);
        expect(await commitOf({ 'Cache-Control': 'no-cache' })).toBe(next);
        await running;
      }
    } finally {
      hourly.close();
    }
  });
});

describe('GET /config/{service}/{env}/properties', () => {
  it('answers Java properties: flattened with dots, sorted, escaped', async () => {
    const res = await request(app).get(`/config/search/prod/properties?ref=${first}`).set(READER);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe('greeting=hello world\nsearch.backend=solr\nsearch.timeoutMs=500\n');
  });

  it('escapes what the .properties format needs', async () => {
    const odd = await gitRepo(
      {
        'application-properties.json': {
          'key with space': ' lead',
          'a=b': 'x:y#z!',
          multi: 'one\ntwo',
          uni: 'café',
          list: [1, 'b'],
        },
        'deployment-params.json': params(1),
      },
      { dir: join(sources, 'odd-prod') },
    );
    const res = await request(app).get('/config/odd/prod/properties').set(READER);
    expect(res.text).toBe(
      [
        'a\\=b=x\\:y\\#z\\!',
        'key\\ with\\ space=\\ lead',
        'list[0]=1',
        'list[1]=b',
        'multi=one\\ntwo',
        'uni=caf\\u00e9',
        '',
      ].join('\n'),
    );
    await odd.remove();
  });
});

describe('GET /config/{service}/{env}/commits', () => {
  it('answers the git log, newest first, with the files each commit changed', async () => {
    const res = await request(app).get('/config/search/prod/commits').set(READER);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items[0]).toMatchObject({
      commit: second,
      author: 'Test Author',
      email: 'author@example.com',
      message: 'Making everything faster',
    });
    expect(res.body.items[0].files).toEqual(
      expect.arrayContaining(['application-properties.json', 'deployment-params.json', 'notes/readme.txt']),
    );
  });

  it('filters by path and limits', async () => {
    const byPath = await request(app).get('/config/search/prod/commits?path=notes/readme.txt').set(READER);
    expect(byPath.body.items.map((c: { commit: string }) => c.commit)).toEqual([second]);
    const limited = await request(app).get('/config/search/prod/commits?limit=1').set(READER);
    expect(limited.body.items).toHaveLength(1);
    expectProblem(await request(app).get('/config/search/prod/commits?path=../x').set(READER), 400, /invalid path/);
  });
});

describe('GET /config/{service}/{env}/diff', () => {
  it('answers keys added, removed and changed, and launch-data lines', async () => {
    const res = await request(app).get(`/config/search/prod/diff?from=v1&to=main`).set(READER);
    expect(res.status).toBe(200);
    expect(res.body.from).toEqual({ ref: 'v1', commit: first });
    expect(res.body.to).toEqual({ ref: 'main', commit: second });
    expect(res.body.files.applicationProperties).toEqual({
      added: { newFlag: true },
      removed: { greeting: 'hello world' },
      changed: { 'search.backend': { old: 'solr', new: 'elastic' } },
    });
    expect(res.body.files.deploymentParams.changed).toEqual({ 'capacity.desired': { old: 2, new: 4 } });
    expect(res.body.files.launchData).toEqual({ added: ['echo three'], removed: ['echo two'] });
  });

  it('answers 400 without from and to, and for bad refs', async () => {
    expect((await request(app).get('/config/search/prod/diff?from=v1').set(READER)).status).toBe(400);
    expectProblem(await request(app).get('/config/search/prod/diff?from=-x&to=main').set(READER), 400, /invalid from/);
  });
});

describe('GET /config/{service}/{env}/files/{path}', () => {
  it('answers any file as stored, nested paths included', async () => {
    const res = await request(app).get('/config/search/prod/files/notes/readme.txt').set(READER);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('notes');
    const json = await request(app).get(`/config/search/prod/files/launch-data.json?ref=${first}`).set(READER);
    expect(json.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(json.text)).toEqual(['echo one', 'echo two']);
  });

  it('answers 404 for a missing file and 400 for a path that escapes', async () => {
    expectProblem(
      await request(app).get('/config/search/prod/files/nothing.txt').set(READER),
      404,
      /no file nothing.txt/,
    );
    expectProblem(
      await request(app).get('/config/search/prod/files/notes/..%2F..%2Fsecret').set(READER),
      400,
      /invalid path/,
    );
    // A NUL is refused at the edge, before the route (core's input limits).
    expectProblem(await request(app).get('/config/search/prod/files/a%00b').set(READER), 400, /NUL character/);
  });
});

describe('GET /config/{service}', () => {
  it('lists the environments that have a repository', async () => {
    const res = await request(app).get('/config/search').set(READER);
    expect(res.body).toEqual({ service: 'search', environments: ['prod', 'staging'] });
    expect((await request(app).get('/config/nothing').set(READER)).body.environments).toEqual([]);
  });
});

describe('GET /schemas/deployment-params', () => {
  it('serves the JSON schema', async () => {
    const res = await request(app).get('/schemas/deployment-params').set(READER);
    expect(res.body.title).toBe('deployment-params.json');
    expect(res.body.required).toEqual(['capacity', 'healthCheck', 'loadBalancer']);
  });
});

describe('POST /refresh', () => {
  it('fetches new commits; until then the clone answers what it had', async () => {
    expect(
      (await request(app).get('/config/search/staging').set(READER)).body.files.deploymentParams.capacity.desired,
    ).toBe(1);
    const third = await staging.commit({ 'deployment-params.json': params(3) }, 'more');
    expect((await request(app).get('/config/search/staging').set(READER)).body.commit).not.toBe(third);
    const refreshed = await request(app).post('/refresh').set(DEPLOYER).send({ service: 'search', env: 'staging' });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.items).toEqual([
      expect.objectContaining({ repository: 'search-staging', fetchedAt: expect.any(String) }),
    ]);
    const after = await request(app).get('/config/search/staging').set(READER);
    expect(after.body).toMatchObject({ commit: third, files: { deploymentParams: { capacity: { desired: 3 } } } });
  });

  it('takes a Git webhook with the shared secret, and refuses a wrong one or a reader', async () => {
    await request(app).get('/config/search/staging').set(READER);
    const hook = await request(app)
      .post('/refresh')
      .set('X-Webhook-Secret', 's3cret')
      .send({ repository: { name: 'search-staging' } });
    expect(hook.status).toBe(200);
    expect(hook.body.items.map((i: { repository: string }) => i.repository)).toEqual(['search-staging']);
    expectProblem(
      await request(app).post('/refresh').set('X-Webhook-Secret', 'guess').send({}),
      401,
      /X-Webhook-Secret/,
    );
    expect((await request(app).post('/refresh').set(READER).send({})).status).toBe(403);
  });

  it('keeps serving, with a stale warning, when the remote disappears', async () => {
    const vanishing = await gitRepo({ 'deployment-params.json': params(2) }, { dir: join(sources, 'gone-prod') });
    const before = await request(app).get('/config/gone/prod').set(READER);
    expect(before.status).toBe(200);
    await vanishing.remove();
    const refreshed = await request(app).post('/refresh').set(DEPLOYER).send({ service: 'gone', env: 'prod' });
    expect(refreshed.body.items[0].staleReason).toMatch(/gone-prod/);
    const after = await request(app).get('/config/gone/prod').set(READER);
    expect(after.status).toBe(200);
    expect(after.body.commit).toBe(before.body.commit);
    expect(after.headers['x-config-fetched-at']).toBe(before.headers['x-config-fetched-at']);
    expect(after.headers.warning).toMatch(/^110 - "stale: .*gone-prod/);
    // The same, as a value a program reads whole (the orchestrator records it on the deployment).
    expect(after.headers['x-config-stale']).toMatch(/gone-prod.*; last fetched \d+ s ago$/);
  });
});

describe('one repository for many services (SLIPWAY_CONFIG_LAYOUT=monorepo)', () => {
  let mono: TestGitRepo;
  let monoHome: string;
  let monoSource: ConfigSource;
  let monoApp: Express;

  beforeAll(async () => {
    mono = await gitRepo(
      {
        'search/prod/application-properties.json': { greeting: 'hello prod' },
        'search/prod/deployment-params.json': params(2),
        'search/prod/launch-data.json': ['echo prod'],
        'search/staging/deployment-params.json': params(1),
        'suggest/prod/deployment-params.json': params(3),
        'README.md': 'one folder per service and environment\n',
      },
      { message: 'All our configuration' },
    );
    await mono.commit({ 'suggest/prod/deployment-params.json': params(5) }, 'Suggest gets five');
    monoHome = await mkdtemp(join(tmpdir(), 'slipway-config-mono-'));
    monoSource = createGitConfigSource({
      urlTemplate: mono.url,
      layout: 'monorepo',
      clonesDir: join(monoHome, 'config'),
      logger: createLogger({ name: 'config', level: 'silent' }),
      refreshSeconds: 0,
    });
    monoApp = createApp({ source: monoSource, tokens, logger: createLogger({ name: 'config', level: 'silent' }) });
  });

  afterAll(async () => {
    monoSource.close();
    await rm(monoHome, { recursive: true, force: true });
    await mono.remove();
  });

  it("answers each service's environments from its folders", async () => {
    expect((await request(monoApp).get('/config/search').set(READER)).body).toEqual({
      service: 'search',
      environments: ['prod', 'staging'],
    });
    expect((await request(monoApp).get('/config/suggest').set(READER)).body.environments).toEqual(['prod']);
  });

  it("reads an environment's files from its folder, at the repository's commit", async () => {
    const res = await request(monoApp).get('/config/search/prod').set(READER);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      service: 'search',
      env: 'prod',
      valid: true,
      files: { applicationProperties: { greeting: 'hello prod' }, launchData: ['echo prod'] },
    });
    expect(res.body.commit).toBe(await mono.git('rev-parse', 'HEAD'));
    const properties = await request(monoApp).get('/config/search/prod/properties').set(READER);
    expect(properties.text).toBe('greeting=hello prod\n');
    expect(
      (await request(monoApp).get('/config/suggest/prod').set(READER)).body.files.deploymentParams.capacity,
    ).toEqual({ min: 1, desired: 5, max: 10 });
  });

  it("gives an environment's history as its folder's, and diffs its files alone", async () => {
    const log = await request(monoApp).get('/config/suggest/prod/commits').set(READER);
    expect(log.body.items.map((c: { message: string }) => c.message)).toEqual([
      'Suggest gets five',
      'All our configuration',
    ]);
    expect(log.body.items[0].files).toEqual(['deployment-params.json']);
    const searchLog = await request(monoApp).get('/config/search/prod/commits').set(READER);
    expect(searchLog.body.items.map((c: { message: string }) => c.message)).toEqual(['All our configuration']);
    const [newer, older] = log.body.items.map((c: { commit: string }) => c.commit);
    const diff = await request(monoApp).get(`/config/suggest/prod/diff?from=${older}&to=${newer}`).set(READER);
    expect(diff.body.files.deploymentParams.changed).toEqual({ 'capacity.desired': { old: 3, new: 5 } });
    const none = await request(monoApp).get(`/config/search/prod/diff?from=${older}&to=${newer}`).set(READER);
    expect(none.body.files.deploymentParams).toEqual({ added: {}, removed: {}, changed: {} });
  });

  it('answers 404 for an environment with no folder, naming it', async () => {
    expectProblem(await request(monoApp).get('/config/search/qa').set(READER), 404, /no folder search\/qa\//);
  });
});
