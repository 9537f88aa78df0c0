import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@slipway/core';
import { eventually, FAST_TIME_SCALE, fastLoadBalancer, freePort, writeTestImage } from '@slipway/test-utils';
import { describeCloudContract } from '../contract.js';
import type { LoadBalancerSpec, TrafficEvent } from '../provider.js';
import { LocalCloud, type LocalCloudOptions } from './cloud.js';

const logger = createLogger({ name: 'cloud', level: 'silent' });
let home: string;
let clouds: LocalCloud[];
let loadBalancer: LoadBalancerSpec;

async function startCloud(options: Partial<LocalCloudOptions> = {}): Promise<LocalCloud> {
  const cloud = new LocalCloud({ home, logger, reconcileMs: 200, timeScale: FAST_TIME_SCALE, ...options });
  await cloud.start();
  clouds.push(cloud);
  return cloud;
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-cloud-'));
  clouds = [];
  await writeTestImage(join(home, 'images'), 'img-test1', { version: '1.0.0' });
  loadBalancer = fastLoadBalancer(await freePort());
});

afterEach(async () => {
  for (const cloud of clouds) await cloud.stop();
  await rm(home, { recursive: true, force: true });
});

describe('local cloud: the provider contract', () => {
  let cloud: LocalCloud;
  beforeEach(async () => {
    cloud = await startCloud();
  });
  describeCloudContract(() => ({
    provider: () => cloud,
    imageId: 'img-test1',
    securityGroup: 'search-app',
    instanceProfile: 'search-instance',
    loadBalancer,
    sendTraffic,
    eventually,
  }));
});

describe('local cloud', () => {
  it('lists images from the manifests it read before, reading one again once it changed, forgetting one removed', async () => {
    const cloud = await startCloud();
    const images = join(home, 'images');
    await writeTestImage(images, 'img-test2', { version: '2.0.0' });
    expect((await cloud.listImages()).map((i) => [i.id, i.version]).sort()).toEqual([
      ['img-test1', '1.0.0'],
      ['img-test2', '2.0.0'],
    ]);
    const manifest = join(images, 'img-test2', 'manifest.json');
    const before = JSON.parse(await readFile(manifest, 'utf8')) as Record<string, unknown>;
    await writeFile(manifest, JSON.stringify({ ...before, version: '2.0.1' }));
    await utimes(manifest, new Date(), new Date(Date.now() + 5000));
    expect((await cloud.getImage('img-test2'))?.version).toBe('2.0.1');
    await rm(join(images, 'img-test2'), { recursive: true });
    expect((await cloud.listImages()).map((i) => i.id)).toEqual(['img-test1']);
    expect(await cloud.getImage('img-test2')).toBeUndefined();
  });

  async function groupWith(cloud: LocalCloud, desired: number) {
    await cloud.createLaunchTemplate({
      name: 'search-prod-v001',
      imageId: 'img-test1',
      instanceType: 't3.small',
      userData: { files: { 'application.properties': 'greeting=hello\n' }, commands: ['echo "$PWD" > launched.txt'] },
    });
    await cloud.createLoadBalancer(loadBalancer);
    await cloud.createServerGroup({
      name: 'search-prod-v001',
      launchTemplate: 'search-prod-v001',
      min: 1,
      desired,
      max: 4,
      targetGroups: ['search'],
    });
    return eventually(
      () => cloud.describeTargetHealth('search'),
      (h) => h.filter((t) => t.state === 'healthy').length === desired,
      `${desired} healthy targets`,
    );
  }

  it('serves through a real load balancer, and answers 503 problem+json without healthy targets', async () => {
    const cloud = await startCloud();
    await cloud.createLoadBalancer(loadBalancer);
    const empty = await fetch(`http://127.0.0.1:${loadBalancer.port}/`);
    expect(empty.status).toBe(503);
    expect(empty.headers.get('content-type')).toBe('application/problem+json');
    await groupWith(cloud, 2);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const body = (await (await fetch(`http://127.0.0.1:${loadBalancer.port}/`)).json()) as {
        instance: string;
        properties: string;
      };
      expect(body.properties).toBe('greeting=hello\n');
      seen.add(body.instance);
    }
    expect(seen.size).toBe(2); // round robin
  });

  it('applies user data like cloud-init: files written, launch commands run in the instance directory', async () => {
    const cloud = await startCloud();
    await groupWith(cloud, 1);
    const [instance] = (await cloud.getServerGroup('search-prod-v001'))!.instances;
    const dir = join(home, 'cloud', 'instances', instance!.id);
    expect(await readFile(join(dir, 'application.properties'), 'utf8')).toBe('greeting=hello\n');
    expect((await readFile(join(dir, 'launched.txt'), 'utf8')).trim()).toBe(dir);
  });

  it("rolls each instance's log over by size, keeping a few older files", async () => {
    const cloud = await startCloud({ logRoll: { maxBytes: 1024, keep: 2 } });
    await cloud.createLaunchTemplate({
      name: 'search-prod-v001',
      imageId: 'img-test1',
      instanceType: 't3.small',
      // Three launch commands' output, each over the limit, in the instance's log.
      userData: { files: {}, commands: [1, 2, 3].map((n) => `yes 'launch ${n}' | head -n 200`) },
    });
    await cloud.createServerGroup({
      name: 'search-prod-v001',
      launchTemplate: 'search-prod-v001',
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: [],
    });
    const group = await eventually(
      () => cloud.getServerGroup('search-prod-v001'),
      (g) => g?.instances[0]?.lifecycle === 'running',
      'a running instance',
    );
    const dir = join(home, 'cloud', 'instances', group!.instances[0]!.id);
    // It may roll between launch commands too: the last one's lines end in the newest older file.
    await eventually(
      async () => ({
        newest: await readFile(join(dir, 'instance.1.log'), 'utf8').catch(() => ''),
        current: (await stat(join(dir, 'instance.log'))).size,
      }),
      ({ newest, current }) => newest.includes('launch 3') && current < 1024,
      'the log rolled over',
    );
    const files = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
    // The current one and at most the 2 kept (two roll-overs or three, by when the daemon looked).
    expect(['instance.1.log', 'instance.2.log', 'instance.log']).toEqual(expect.arrayContaining(files));
  });

  it('replaces an instance killed with kill -9', async () => {
    const cloud = await startCloud();
    await groupWith(cloud, 2);
    const before = (await cloud.getServerGroup('search-prod-v001'))!.instances;
    const state = JSON.parse(await readFile(join(home, 'cloud', 'state.json'), 'utf8'));
    const victim = state.serverGroups['search-prod-v001'].instances[before[0]!.id];
    process.kill(victim.pid, 'SIGKILL');
    const after = await eventually(
      () => cloud.getServerGroup('search-prod-v001'),
      (g) =>
        !!g &&
        g.instances.filter((i) => i.lifecycle === 'running').length === 2 &&
        !g.instances.some((i) => i.id === victim.id),
      'a replacement',
    );
    expect(after!.instances.map((i) => i.id)).toContain(before[1]!.id);
  });

  it('adopts live instances after its own restart', async () => {
    const first = await startCloud();
    await groupWith(first, 2);
    const ids = (await first.getServerGroup('search-prod-v001'))!.instances.map((i) => i.id).sort();
    await first.stop({ keepInstances: true }); // as if the daemon died
    clouds = clouds.filter((c) => c !== first);
    const second = await startCloud();
    const adopted = await second.getServerGroup('search-prod-v001');
    expect(adopted!.instances.map((i) => i.id).sort()).toEqual(ids);
    await eventually(
      () => second.describeTargetHealth('search'),
      (h) => h.filter((t) => t.state === 'healthy').length === 2,
      'adopted instances healthy behind the restarted load balancer',
    );
    expect((await fetch(`http://127.0.0.1:${loadBalancer.port}/`)).status).toBe(200);
  });

  it('refuses a load balancer whose port is taken, and a second one on the same port', async () => {
    const cloud = await startCloud();
    await cloud.createLoadBalancer(loadBalancer);
    await expect(
      cloud.createLoadBalancer({
        ...loadBalancer,
        name: 'other',
        targetGroup: { ...loadBalancer.targetGroup, name: 'other' },
      }),
    ).rejects.toThrow(/already has port/);
    const squatter = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const port = (squatter.address() as { port: number }).port;
    await expect(
      cloud.createLoadBalancer({
        name: 'third',
        port,
        protocol: 'http',
        targetGroup: { ...loadBalancer.targetGroup, name: 'third' },
      }),
    ).rejects.toThrow(`port ${port} is already in use`);
    expect(await cloud.getLoadBalancer('third')).toBeUndefined();
    squatter.close();
  });

  it('moves a listener to a new port with its targets still in service; a taken port changes nothing', async () => {
    const cloud = await startCloud();
    await groupWith(cloud, 1);
    const squatter = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const taken = (squatter.address() as { port: number }).port;
    await expect(cloud.modifyLoadBalancer({ ...loadBalancer, port: taken })).rejects.toThrow(
      `port ${taken} is already in use`,
    );
    squatter.close();
    expect((await fetch(`http://127.0.0.1:${loadBalancer.port}/`)).status).toBe(200);

    const port = await freePort();
    const moved = await cloud.modifyLoadBalancer({ ...loadBalancer, port });
    expect(moved.address).toBe(`127.0.0.1:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${loadBalancer.port}/`)).rejects.toThrow();
    expect((await cloud.getLoadBalancer(loadBalancer.name))?.port).toBe(port);
  });

  it('creates a server group out of service: its instances run but join no target group until enabled', async () => {
    const cloud = await startCloud();
    await cloud.createLaunchTemplate({
      name: 'search-prod-v001',
      imageId: 'img-test1',
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await cloud.createLoadBalancer(loadBalancer);
    await cloud.createServerGroup({
      name: 'search-prod-v001',
      launchTemplate: 'search-prod-v001',
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: ['search'],
      disabled: true,
    });
    const group = await eventually(
      () => cloud.getServerGroup('search-prod-v001'),
      (g) => g?.instances[0]?.lifecycle === 'running',
      'a running instance',
    );
    expect(group?.disabled).toBe(true);
    expect(await cloud.describeTargetHealth('search')).toEqual([]);
    await cloud.enableServerGroup('search-prod-v001');
    await eventually(
      () => cloud.describeTargetHealth('search'),
      (h) => h[0]?.state === 'healthy',
      'the target healthy',
    );
  });

  it("counts two groups' traffic apart in one target group and pushes a failing target's failures as they happen", async () => {
    // Detached: the load balancer process counts, and its events come over its socket.
    const cloud = await startCloud({ balancers: 'detached' });
    await writeTestImage(join(home, 'images'), 'img-failing', { version: '2.0.0', errorRate: 1 });
    await cloud.createLoadBalancer(loadBalancer);
    for (const [name, imageId] of [
      ['search-prod-v001', 'img-test1'],
      ['search-prod-v002', 'img-failing'],
    ] as const) {
      await cloud.createLaunchTemplate({
        name,
        imageId,
        instanceType: 't3.small',
        userData: { files: {}, commands: [] },
      });
      await cloud.createServerGroup({
        name,
        launchTemplate: name,
        min: 1,
        desired: 1,
        max: 1,
        targetGroups: ['search'],
      });
    }
    await eventually(
      () => cloud.describeTargetHealth('search'),
      (h) => h.filter((t) => t.state === 'healthy').length === 2,
      'both targets healthy',
    );
    const failing = (await cloud.getServerGroup('search-prod-v002'))!.instances[0]!.id;
    const heard: TrafficEvent[] = [];
    const subscription = cloud.watchTraffic('search', (event) => heard.push(event));
    const since = new Date();
    await sendTraffic(loadBalancer, 'both', 20);
    const [ok, failed] = await cloud.trafficOf('search', ['search-prod-v001', 'search-prod-v002'], since);
    expect(ok!.requests + failed!.requests).toBe(20);
    expect(ok).toMatchObject({ responses: { '2xx': ok!.requests, '5xx': 0 }, connectionErrors: 0 });
    expect(failed).toMatchObject({ responses: { '2xx': 0, '5xx': failed!.requests } });
    expect(failed!.requests).toBeGreaterThan(0);
    expect(failed!.latency!.histogram!.counts.reduce((a, b) => a + b)).toBe(failed!.requests);
    // Every failure was heard, in a row, and nothing of the healthy group.
    await eventually(
      async () => heard,
      (h) => h.length === failed!.requests,
      'each failure heard',
    );
    expect(heard.map((e) => e.consecutiveFailures)).toEqual(heard.map((_, i) => i + 1));
    expect(heard[0]).toMatchObject({ instanceId: failing, group: 'search-prod-v002', outcome: '5xx', status: 500 });
    subscription.close();
    // One who subscribes now hears at once which target is failing.
    const late: TrafficEvent[] = [];
    const again = cloud.watchTraffic('search', (event) => late.push(event));
    await eventually(
      async () => late,
      (l) => l.length === 1,
      'the failing target',
    );
    expect(late[0]).toMatchObject({ instanceId: failing, consecutiveFailures: failed!.requests });
    again.close();
  });
});

async function sendTraffic(lb: LoadBalancerSpec, _group: string, requests: number): Promise<void> {
  for (let i = 0; i < requests; i++) await (await fetch(`http://127.0.0.1:${lb.port}/`)).arrayBuffer();
}
