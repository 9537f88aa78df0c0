import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { pack, type Header } from 'tar-stream';
import { gzipSync } from 'node:zlib';
import { LocalCloud } from '@slipway/cloud';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis, createStreamHub } from '@slipway/core/redis';
import {
  eventually,
  FAST_TIME_SCALE,
  fastLoadBalancer,
  freePort,
  packExampleService,
  startRedis,
  writeTestImage,
  type TestRedis,
} from '@slipway/test-utils';
import { createApp, type AppDeps } from './app.js';
import { pruneBase, type BakerOptions } from './baker.js';
import { createLocalImageSizes } from './quota.js';
import { createLocalArtifactStore } from './artifacts.js';
import { createRedisBakeStore } from './bakes.js';
import { createRedisBuildStore } from './builds.js';
import { createSourceRepositories } from './repositories.js';
import { createRedisImageRegistry } from './images.js';
import { baseBakeKey } from './operations.js';
import { digestOf, startBakery, templatesFor, type Bakery } from './wiring.js';

const DEPLOYER = { Authorization: 'Bearer deployer-token' };
const ADMIN = { Authorization: 'Bearer admin-token' };
const tokens = createTokenVerifier({
  'deployer-token': { subject: 'dave', role: 'deployer' },
  'admin-token': { subject: 'ada', role: 'admin' },
  'reader-token': { subject: 'rita', role: 'reader' },
});
const logger = createLogger({ name: 'baking', level: 'silent' });

let home: string;
let redisServer: TestRedis;
let redis: Redis;
let cloud: LocalCloud;
let bakery: Bakery;
let app: Express;
let deps: AppDeps;
let baker: BakerOptions;
let artifact1: string;
let artifact1b: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-baking-'));
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  cloud = new LocalCloud({ home, logger, reconcileMs: 200, timeScale: FAST_TIME_SCALE });
  await cloud.start();
  const store = createRedisBakeStore({ redis, prefix: 'test:baking:' });
  const artifacts = createLocalArtifactStore({ dir: join(home, 'artifacts'), maxBytes: 10 * 1024 * 1024 });
  const templates = templatesFor(cloud);
  bakery = await startBakery({
    redisUrl: redisServer.url,
    store,
    concurrency: 2,
    baseCron: '0 3 * * 0',
    baseBakeKey: baseBakeKey(digestOf(templates.base)),
    logger,
    baker: { store, artifacts, cloud, templates, home, timeoutMs: 120_000, logger, retention: 10 },
  });
  baker = { store, artifacts, cloud, templates, home, timeoutMs: 120_000, logger, retention: 10 };
  deps = {
    store,
    images: createRedisImageRegistry({ redis, prefix: 'test:baking:' }),
    artifacts,
    cloud,
    services: { exists: async (name) => name === 'search' },
    queue: bakery.queue,
    serviceTemplateDigest: digestOf(templates.service),
    baseTemplateDigest: digestOf(templates.base),
    followConnection: () => redis.duplicate(),
    bakeTimeoutSeconds: 120,
    builds: createRedisBuildStore({ redis, prefix: 'test:baking:' }),
    repositories: createSourceRepositories({ dir: join(home, 'repos') }),
    repoOf: async () => undefined,
    runningImages: async () => [],
    githubSecret: () => undefined,
    tokens,
    logger,
  };
  app = createApp(deps);
  artifact1 = await packExampleService(home, { version: '1.0.0' });
  const other = await mkdtemp(join(tmpdir(), 'slipway-other-'));
  artifact1b = await packExampleService(other, { version: '1.0.0', unhealthyAfterSeconds: 3 });
}, 60_000);

afterAll(async () => {
  await bakery.close();
  await cloud.stop();
  await redis.quit();
  await redisServer.stop();
  await rm(home, { recursive: true, force: true });
});

const upload = async (version: string, file: string, headers = DEPLOYER) =>
  request(app)
    .put(`/artifacts/search/${version}`)
    .set(headers)
    .set('Content-Type', 'application/gzip')
    .send(await readFile(file));

async function waitFinished(id: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const bake = (await request(app).get(`/bakes/${id}`).set(DEPLOYER)).body;
    if (['succeeded', 'failed', 'cancelled'].includes(bake.state)) return bake;
    if (Date.now() > deadline) throw new Error(`bake ${id} still ${bake.state}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('PUT /artifacts/{service}/{version}', () => {
  it('stores a tarball with its sha256, accepts it again, refuses other content for the version', async () => {
    const first = await upload('1.0.0', artifact1);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      service: 'search',
      version: '1.0.0',
      uploadedBy: 'dave',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect((await upload('1.0.0', artifact1)).status).toBe(200);
    const clash = await upload('1.0.0', artifact1b);
    expect(clash.status).toBe(409);
    expect(clash.body.detail).toMatch(/already stored with other content/);
    const list = await request(app).get('/artifacts/search').set(DEPLOYER);
    expect(list.body.items.map((a: { version: string }) => a.version)).toEqual(['1.0.0']);
  });

  it('answers 400 for a bad version or name, 404 for an unknown service, 415 for JSON', async () => {
    expect(
      (await request(app).put('/artifacts/search/-1.0').set(DEPLOYER).set('Content-Type', 'application/gzip').send('x'))
        .status,
    ).toBe(400);
    const bad = await request(app)
      .put('/artifacts/search/1.0%3Brm')
      .set(DEPLOYER)
      .set('Content-Type', 'application/gzip')
      .send('x');
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/a letter or digit, then up to 63/);
    expect(
      (
        await request(app)
          .put('/artifacts/Bad-Name/1.0')
          .set(DEPLOYER)
          .set('Content-Type', 'application/gzip')
          .send('x')
      ).status,
    ).toBe(400);
    const unknown = await request(app)
      .put('/artifacts/nothing/1.0')
      .set(DEPLOYER)
      .set('Content-Type', 'application/gzip')
      .send('x');
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/no service named nothing/);
    expect((await request(app).put('/artifacts/search/2.0').set(DEPLOYER).send({ a: 1 })).status).toBe(415);
  });
});

/** A .tgz made entry by entry, as an attacker would: owners, modes and types as given. */
async function tarball(entries: Array<Partial<Header> & { name: string; body?: string }>): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const { body, ...header } of entries) tar.entry(header, body ?? '');
  tar.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}
const manifest = { name: 'package/package.json', body: JSON.stringify({ name: 'search', main: 'index.js' }) };
const entryPoint = { name: 'package/index.js', body: 'require("http")' };
const sendArtifact = (version: string, bytes: Buffer) =>
  request(app).put(`/artifacts/search/${version}`).set(DEPLOYER).set('Content-Type', 'application/gzip').send(bytes);

describe('what an artifact may hold (#24 attack 2)', () => {
  it('refuses setuid files, device nodes, FIFOs and links that leave the package, naming the entry, and stores nothing', async () => {
    const hostile: Array<[string, Partial<Header> & { name: string; body?: string }, RegExp]> = [
      [
        'setuid root shell',
        { name: 'package/sh', mode: 0o4755, uid: 0, gid: 0, body: '#!/bin/sh' },
        /package\/sh is setuid/,
      ],
      ['setgid', { name: 'package/tool', mode: 0o2755, body: 'x' }, /package\/tool is setgid/],
      [
        'char device',
        { name: 'package/mem', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 1 },
        /package\/mem is a device node/,
      ],
      [
        'block device',
        { name: 'package/disk', type: 'block-device', mode: 0o660, devmajor: 8, devminor: 0 },
        /package\/disk is a device node/,
      ],
      ['fifo', { name: 'package/pipe', type: 'fifo', mode: 0o644 }, /package\/pipe is a FIFO/],
      [
        'symlink out',
        { name: 'package/token', type: 'symlink', linkname: '../../../admin-token' },
        /package\/token links outside the package/,
      ],
      [
        'absolute symlink',
        { name: 'package/passwd', type: 'symlink', linkname: '/etc/passwd' },
        /package\/passwd links outside the package/,
      ],
      [
        'hard link out',
        { name: 'package/hosts', type: 'link', linkname: '/etc/hosts' },
        /package\/hosts links outside the package/,
      ],
      ['path out', { name: 'package/../../start', body: 'x' }, /package\/\.\.\/\.\.\/start leaves the package/],
    ];
    for (const [what, entry, reason] of hostile) {
      const answer = await sendArtifact('6.6.6', await tarball([manifest, entryPoint, entry]));
      expect({ what, status: answer.status }).toEqual({ what, status: 422 });
      expect(answer.body.detail).toMatch(reason);
    }
    const list = await request(app).get('/artifacts/search').set(DEPLOYER);
    expect(list.body.items.map((a: { version: string }) => a.version)).not.toContain('6.6.6');
  });

  it('keeps a link that stays inside the package', async () => {
    const inside = { name: 'package/main.js', type: 'symlink' as const, linkname: './index.js' };
    expect((await sendArtifact('6.6.7', await tarball([manifest, entryPoint, inside]))).status).toBe(201);
  });
});

describe("an artifact is a tarball of the service's package (#23 item 8)", () => {
  it('refuses `echo hello | gzip`, a tarball with no package, and a package without its entry point, naming what is missing', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['echo hello | gzip', gzipSync('hello\n'), /not a tarball/],
      ['no package', await tarball([{ name: 'README.md', body: 'hi' }]), /no package\.json/],
      ['no entry point', await tarball([manifest]), /entry point index\.js \(package\.json "main"\) is not in it/],
      [
        'bad manifest',
        await tarball([{ name: 'package/package.json', body: '{oops' }, entryPoint]),
        /package\.json is not JSON/,
      ],
    ];
    for (const [what, bytes, reason] of cases) {
      const answer = await sendArtifact('7.7.7', bytes);
      expect({ what, status: answer.status }).toEqual({ what, status: 422 });
      expect(answer.body.detail).toMatch(reason);
    }
    const list = await request(app).get('/artifacts/search').set(DEPLOYER);
    expect(list.body.items.map((a: { version: string }) => a.version)).not.toContain('7.7.7');
  });
});

describe('DELETE /artifacts/{service}/{version}, and bytes that are not gzip', () => {
  it('answers 422 for bytes that are not gzip; an admin deletes a version, a deployer cannot', async () => {
    const plain = await request(app)
      .put('/artifacts/search/0.0.1')
      .set(DEPLOYER)
      .set('Content-Type', 'application/gzip')
      .send(Buffer.from('not gzip at all'));
    expect(plain.status).toBe(422);
    expect(plain.body.detail).toMatch(/^the artifact is not a gzip-compressed tarball/);
    expect((await upload('0.0.2', artifact1)).status).toBe(201);
    expect((await request(app).delete('/artifacts/search/0.0.2').set(DEPLOYER)).status).toBe(403);
    expect((await request(app).delete('/artifacts/search/0.0.2').set(ADMIN)).status).toBe(204);
    expect((await request(app).delete('/artifacts/search/0.0.2').set(ADMIN)).status).toBe(404);
    expect((await request(app).get('/artifacts/search/0.0.2').set(DEPLOYER)).status).toBe(404);
  });
});

describe('bakes', () => {
  it('needs a base image before a service bake, and names a missing artifact', async () => {
    const noBase = await request(app).post('/bakes').set(DEPLOYER).send({ service: 'search', version: '1.0.0' });
    expect(noBase.status).toBe(422);
    expect(noBase.body.detail).toMatch(/no base image yet/);
    expect(noBase.body.code).toBe('no-base-image');
    const missing = await request(app).post('/bakes').set(DEPLOYER).send({ service: 'search', version: '9.9.9' });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toMatch(/no artifact search 9.9.9/);
    expect(missing.body).toMatchObject({ code: 'no-artifact', args: { service: 'search', version: '9.9.9' } });
  });

  let baseImage: string;
  let serviceImage: string;

  it('bakes a base image with real Packer, and streams its log as it happens', async () => {
    const started = await request(app).post('/bakes/base').set(DEPLOYER);
    expect(started.status).toBe(202);
    const events = await request(app).get(`/bakes/${started.body.id}/log`).set(DEPLOYER);
    expect(events.headers['content-type']).toMatch(/text\/event-stream/);
    expect(events.text).toMatch(/data: .*laying down the runtime/);
    expect(events.text).toMatch(/event: end\ndata: \{"state":"succeeded","image":"img-/);
    const bake = await waitFinished(started.body.id);
    expect(bake.state).toBe('succeeded');
    baseImage = bake.image;
    const latest = await request(app).get('/images/base/latest').set(DEPLOYER);
    expect(latest.body).toMatchObject({ id: baseImage, kind: 'base' });
    const dir = join(home, 'images', baseImage);
    expect(existsSync(join(dir, 'runtime', 'bin', 'node'))).toBe(true);
    expect((await readFile(join(dir, 'SHA256SUMS'), 'utf8')).split('\n').length).toBeGreaterThan(100);
  });

  it('answers the base image of the same template at once, as a service bake does', async () => {
    const again = await request(app).post('/bakes/base').set(DEPLOYER);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ image: baseImage, cached: true });
  });

  it('keeps the newest base images and deregisters older ones', async () => {
    for (const [id, day] of [
      ['img-oldbase1', '01'],
      ['img-oldbase2', '02'],
    ] as const) {
      await mkdir(join(home, 'images', id), { recursive: true });
      await writeFile(
        join(home, 'images', id, 'manifest.json'),
        JSON.stringify({ id, kind: 'base', createdAt: `2020-01-${day}T00:00:00.000Z` }),
      );
    }
    expect(await pruneBase({ ...baker, baseRetention: 2 })).toEqual(['img-oldbase1']);
    expect(await pruneBase({ ...baker, baseRetention: 1 })).toEqual(['img-oldbase2']);
    const bases = await request(app).get('/images?kind=base').set(DEPLOYER);
    expect(bases.body.items.map((i: { id: string }) => i.id)).toEqual([baseImage]);
  });

  it('refuses a base bake over the quota of the image store with 507 and the numbers', async () => {
    const sizes = createLocalImageSizes(join(home, 'images'));
    const base = await sizes.bytesOf(baseImage);
    expect(base).toBeGreaterThan(1024 * 1024);
    const store = createApp({ ...deps, quota: { sizes, limits: { serviceBytes: 0, totalBytes: base } } });
    const full = await request(store).post('/bakes/base').set(DEPLOYER).send({ rebake: true });
    expect(full.status).toBe(507);
    expect(full.body.detail).toMatch(
      new RegExp(
        `^images take [0-9.]+ MiB \\(${base} bytes\\) of the image store's quota of [0-9.]+ MiB \\(${base} bytes\\)`,
      ),
    );
    expect(full.body.code).toBe('image-quota');
    expect(full.body.args.quota).toMatch(new RegExp(`\\(${base} bytes\\)$`));
  });

  it('bakes a service on the newest base; the same inputs answer the same image at once', async () => {
    const [first, second] = await Promise.all([
      request(app).post('/bakes').set(DEPLOYER).send({ service: 'search', version: '1.0.0' }),
      request(app).post('/bakes').set(DEPLOYER).send({ service: 'search', version: '1.0.0' }),
    ]);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id); // joined the running bake
    const bake = await waitFinished(first.body.id);
    expect(bake).toMatchObject({ state: 'succeeded', kind: 'service', service: 'search', version: '1.0.0', baseImage });
    serviceImage = bake.image;
    const manifest = JSON.parse(await readFile(join(home, 'images', serviceImage, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      id: serviceImage,
      kind: 'service',
      service: 'search',
      version: '1.0.0',
      baseImage,
      bakeKey: bake.bakeKey,
    });
    const listed = await request(app).get('/bakes?service=search').set(DEPLOYER);
    expect(listed.body.items.map((b: { id: string }) => b.id)).toEqual([first.body.id]);
    const all = await request(app).get('/bakes?limit=1').set(DEPLOYER);
    expect(all.body.items.map((b: { id: string }) => b.id)).toEqual([first.body.id]); // newest first
    const cached = await request(app).post('/bakes').set(DEPLOYER).send({ service: 'search', version: '1.0.0' });
    expect(cached.status).toBe(200);
    expect(cached.body).toEqual({ image: serviceImage, cached: true });
    // No build was reported for 1.0.0 when it was baked: its image names no source commit.
    expect((await request(app).get(`/images/${serviceImage}`).set(DEPLOYER)).body.sourceCommit).toBeUndefined();
    const commit = 'a1'.repeat(20);
    await deps.builds.record({
      service: 'search',
      commit,
      status: 'passed',
      version: '1.0.0',
      repo: 'git@git.example.com:team/search.git',
      reportedBy: 'ci',
      reportedAt: new Date().toISOString(),
    });
    const rebake = await request(app)
      .post('/bakes')
      .set(DEPLOYER)
      .send({ service: 'search', version: '1.0.0', rebake: true });
    expect(rebake.status).toBe(202);
    expect(rebake.body.id).not.toBe(first.body.id);
    const rebaked = await waitFinished(rebake.body.id);
    expect(rebaked.state).toBe('succeeded');
    expect(rebaked.image).not.toBe(serviceImage);
    // Now the image carries the source on: in its tags (an AMI's, a local manifest's) and its record.
    const source = { sourceCommit: commit, sourceRepository: 'git@git.example.com:team/search.git' };
    expect(rebaked).toMatchObject(source);
    const carried = (await request(app).get(`/images/${rebaked.image}`).set(DEPLOYER)).body;
    expect(carried).toMatchObject({ ...source, tags: { 'slipway:commit': commit } });
    const rebakedManifest = JSON.parse(await readFile(join(home, 'images', rebaked.image, 'manifest.json'), 'utf8'));
    expect(rebakedManifest.tags).toEqual({
      'slipway:commit': commit,
      'slipway:repository': 'git@git.example.com:team/search.git',
    });
    const text = await request(app).get(`/bakes/${first.body.id}/log?format=text`).set(DEPLOYER);
    expect(text.text).toContain(`layering search 1.0.0 on ${baseImage}`);
    const images = await request(app).get('/images?service=search').set(DEPLOYER);
    expect(images.body.items.map((i: { id: string }) => i.id)).toEqual([rebaked.image, serviceImage]);
    expect(images.body.items[0]).toMatchObject(source);
  });

  it('refuses a service bake over its quota on image bytes with 409 and the numbers', async () => {
    const sizes = createLocalImageSizes(join(home, 'images'));
    const used =
      (await sizes.bytesOf(serviceImage)) +
      (await sizes.bytesOf((await cloud.listImages({ service: 'search' }))[0]!.id));
    const limited = createApp({ ...deps, quota: { sizes, limits: { serviceBytes: used, totalBytes: 0 } } });
    const res = await request(limited)
      .post('/bakes')
      .set(DEPLOYER)
      .send({ service: 'search', version: '1.0.0', rebake: true });
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(
      new RegExp(`^the images of search take [0-9.]+ MiB \\(${used} bytes\\) of its quota`),
    );
    expect([res.body.code, res.body.args.service]).toEqual(['service-image-quota', 'search']);
    const cached = await request(limited).post('/bakes').set(DEPLOYER).send({ service: 'search', version: '1.0.0' });
    expect(cached.status).toBe(200); // an image that exists costs nothing
  });

  it('the local cloud starts an instance from the baked image', async () => {
    await cloud.createLaunchTemplate({
      name: 'search-prod-v001',
      imageId: serviceImage,
      instanceType: 't3.small',
      userData: { files: { 'application.properties': 'greeting=Hello from a baked image\n' }, commands: [] },
    });
    const lbPort = await freePort();
    await cloud.createLoadBalancer(fastLoadBalancer(lbPort));
    await cloud.createServerGroup({
      name: 'search-prod-v001',
      launchTemplate: 'search-prod-v001',
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: ['search'],
    });
    const deadline = Date.now() + 20_000;
    let body: unknown;
    while (Date.now() < deadline) {
      const res = await fetch(`http://127.0.0.1:${lbPort}/`).catch(() => undefined);
      if (res?.ok) {
        body = await res.json();
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(body).toEqual({ service: 'search', version: '1.0.0', greeting: 'Hello from a baked image' });
  });

  it('never deregisters an image a server group uses; an admin can deregister others', async () => {
    const inUse = await request(app).delete(`/images/${serviceImage}`).set(ADMIN);
    expect(inUse.status).toBe(409);
    expect((await request(app).delete(`/images/${serviceImage}`).set(DEPLOYER)).status).toBe(403);
  });

  it('cancelling stops Packer and leaves nothing half-made', async () => {
    const [started, joined] = await Promise.all([
      request(app).post('/bakes/base').set(DEPLOYER).send({ rebake: true }),
      request(app).post('/bakes/base').set(DEPLOYER).send({ rebake: true }),
    ]);
    expect(joined.body.id).toBe(started.body.id); // one base bake at a time for one template
    await new Promise((r) => setTimeout(r, 600));
    const cancel = await request(app).delete(`/bakes/${started.body.id}`).set(DEPLOYER);
    expect(cancel.status).toBe(202);
    const bake = await waitFinished(started.body.id);
    expect(bake.state).toBe('cancelled');
    const leftovers = (await readdir(join(home, 'images'))).filter((name) => name.startsWith('.work-'));
    expect(leftovers).toEqual([]);
    expect((await request(app).get('/images?kind=base').set(DEPLOYER)).body.items).toHaveLength(1);
  });

  it('answers 404 for an unknown bake and 400 for a malformed id', async () => {
    expect((await request(app).get('/bakes/bake-000000000000').set(DEPLOYER)).status).toBe(404);
    expect((await request(app).get('/bakes/nonsense').set(DEPLOYER)).status).toBe(400);
  });
});

// Last: the image it registers would show in the lists the bake tests read.
describe('POST /images', () => {
  it('registers an image built elsewhere for a service and version, after checking the cloud has it', async () => {
    await writeTestImage(join(home, 'images'), 'img-elsewhere', { version: '7.0.0' });
    const body = { service: 'search', version: '7.0.0', imageId: 'img-elsewhere' };
    const created = await request(app).post('/images').set(DEPLOYER).send(body);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: 'img-elsewhere' });
    expect((await request(app).post('/images').set(DEPLOYER).send(body)).status).toBe(200);
    const image = await request(app).get('/images/img-elsewhere').set(DEPLOYER);
    expect(image.body).toMatchObject({ id: 'img-elsewhere', kind: 'service', service: 'search', version: '7.0.0' });
    expect(image.body.sourceCommit).toBeUndefined();
    // Registered with the commit it was built from, it carries that on as a baked image does.
    await writeTestImage(join(home, 'images'), 'img-sourced', { version: '7.1.0' });
    const sourced = { service: 'search', version: '7.1.0', imageId: 'img-sourced', commit: 'b2'.repeat(20) };
    expect((await request(app).post('/images').set(DEPLOYER).send(sourced)).status).toBe(201);
    expect((await request(app).get('/images/img-sourced').set(DEPLOYER)).body.sourceCommit).toBe('b2'.repeat(20));
    const otherCommit = await request(app)
      .post('/images')
      .set(DEPLOYER)
      .send({ ...sourced, commit: 'c3'.repeat(20) });
    expect(otherCommit.status).toBe(409);
    expect(otherCommit.body.detail).toMatch(/as built from b2b2/);
    expect(
      (
        await request(app)
          .post('/images')
          .set(DEPLOYER)
          .send({ ...sourced, repository: 'has "quotes"' })
      ).status,
    ).toBe(400);
    const listed = await request(app).get('/images?service=search').set(DEPLOYER);
    expect(listed.body.items.map((i: { id: string }) => i.id)).toContain('img-elsewhere');

    const other = await request(app)
      .post('/images')
      .set(DEPLOYER)
      .send({ ...body, version: '7.0.1' });
    expect(other.status).toBe(409);
    expect(other.body.detail).toMatch(/registered already as search 7.0.0/);
    const missing = await request(app)
      .post('/images')
      .set(DEPLOYER)
      .send({ ...body, imageId: 'ami-0123456789abcdef0' });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('no image ami-0123456789abcdef0 in the local cloud');
    expect(
      (
        await request(app)
          .post('/images')
          .set(DEPLOYER)
          .send({ ...body, service: 'nosuch' })
      ).status,
    ).toBe(404);
    expect(
      (
        await request(app)
          .post('/images')
          .set(DEPLOYER)
          .send({ ...body, imageId: '../x' })
      ).status,
    ).toBe(400);
    expect((await request(app).post('/images').set({ Authorization: 'Bearer reader-token' }).send(body)).status).toBe(
      403,
    );
  });
});

describe('POST /images/{id}/regions', () => {
  it('answers the image as it is on the local cloud, where every image is in every region; 404 for an unknown image', async () => {
    const dir = await writeTestImage(join(home, 'images'), 'img-everywhere', { version: '7.1.0' });
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const commit = 'd4e18d3714e5da8e8d18a2617f4ad96a5d91a6a1';
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, tags: { 'slipway:commit': commit } }));
    const res = await request(app).post('/images/img-everywhere/regions').set(DEPLOYER).send({ region: 'local-west' });
    expect(res.status).toBe(200);
    // The image as GET /images/{id} answers it, its source commit included.
    expect(res.body).toMatchObject({ id: 'img-everywhere', sourceCommit: commit });
    expect(res.body.regions).toBeUndefined();
    expect((await request(app).get('/images/img-everywhere').set(DEPLOYER)).body.regions).toBeUndefined();
    const missing = await request(app).post('/images/img-nowhere/regions').set(DEPLOYER).send({ region: 'local-west' });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe('no image img-nowhere');
    const reader = await request(app)
      .post('/images/img-everywhere/regions')
      .set({ Authorization: 'Bearer reader-token' })
      .send({ region: 'local-west' });
    expect(reader.status).toBe(403);
  });
});

describe("following a bake's log (#24 attack 6)", () => {
  it('shares one Redis connection among its followers, and caps them per token and in total with 429 and Retry-After', async () => {
    const hub = createStreamHub({ redis, perSubject: 3, total: 4 });
    const server = createApp({ ...deps, followConnection: (subject: string) => hub.follower(subject) }).listen(
      0,
      '127.0.0.1',
    );
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const id = 'bake-f0110f0110f0';
    await deps.store.create({
      id,
      kind: 'base',
      state: 'running',
      requestedBy: 'dave',
      createdAt: new Date().toISOString(),
    });
    const clients = async () =>
      String(await redis.client('LIST'))
        .split('\n')
        .filter(Boolean).length;
    const before = await clients();
    const controllers: AbortController[] = [];
    const streams: Array<{ text: string }> = [];
    const follow = async (token: string) => {
      const controller = new AbortController();
      controllers.push(controller);
      const answer = await fetch(`${base}/bakes/${id}/log`, {
        headers: { Authorization: `Bearer ${token}` },
        signal: controller.signal,
      });
      if (answer.status === 200) {
        const seen = { text: '' };
        streams.push(seen);
        const decoder = new TextDecoder();
        void (async () => {
          for await (const chunk of answer.body!) seen.text += decoder.decode(chunk as Uint8Array);
        })().catch(() => {});
      }
      return answer;
    };
    try {
      for (let i = 0; i < 3; i++) expect((await follow('deployer-token')).status).toBe(200);
      const fourth = await follow('deployer-token');
      expect(fourth.status).toBe(429);
      expect(fourth.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await fourth.json()) as { detail: string }).detail).toMatch(/dave already follows 3 streams/);
      expect((await follow('admin-token')).status).toBe(200);
      const over = await follow('reader-token');
      expect(over.status).toBe(429);
      expect(((await over.json()) as { detail: string }).detail).toMatch(/already serves 4 followers/);
      // Four followers, at most one more Redis connection.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await clients()) - before).toBeLessThanOrEqual(1);
      await deps.store.log(id, 'layering search 1.0.0');
      for (const seen of streams)
        await eventually(
          async () => seen.text,
          (text) => text.includes('layering search 1.0.0'),
          'every follower to get the new line',
        );
    } finally {
      for (const controller of controllers) controller.abort();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      hub.close();
    }
  });
});
