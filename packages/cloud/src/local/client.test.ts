import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpServer, createLogger, createTokenVerifier } from '@slipway/core';
import { eventually, FAST_TIME_SCALE, fastLoadBalancer, freePort, writeTestImage } from '@slipway/test-utils';
import { describeCloudContract } from '../contract.js';
import type { CloudProvider, LoadBalancerSpec, TrafficEvent } from '../provider.js';
import { createApp } from './app.js';
import { createLocalProvider } from './client.js';
import { LocalCloud } from './cloud.js';

// The same contract as cloud.test.ts, through the daemon's REST API and the `local` provider.
const logger = createLogger({ name: 'cloud', level: 'silent' });
const tokens = createTokenVerifier({
  'platform-token': { subject: 'service:orchestrator', role: 'platform' },
  'deployer-token': { subject: 'dave', role: 'deployer' },
  'admin-token': { subject: 'ada', role: 'admin' },
  'reader-token': { subject: 'r', role: 'reader' },
});
let home: string;
let cloud: LocalCloud;
let server: Server;
let provider: CloudProvider;
let baseUrl: string;
let loadBalancer: LoadBalancerSpec;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-cloud-api-'));
  await writeTestImage(join(home, 'images'), 'img-test1');
  cloud = new LocalCloud({ home, logger, reconcileMs: 200, timeScale: FAST_TIME_SCALE });
  await cloud.start();
  server = createHttpServer(createApp({ cloud, tokens, logger }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  provider = createLocalProvider({ baseUrl, token: 'platform-token' });
  loadBalancer = fastLoadBalancer(await freePort());
});

afterEach(async () => {
  await new Promise((r) => server.close(r));
  await cloud.stop();
  await rm(home, { recursive: true, force: true });
});

describe('local provider over the daemon API: the provider contract', () => {
  describeCloudContract(() => ({
    provider: () => provider,
    imageId: 'img-test1',
    securityGroup: 'search-app',
    instanceProfile: 'search-instance',
    loadBalancer,
    sendTraffic,
    eventually,
  }));
});

describe('the daemon API', () => {
  it('answers undefined for what is not there, and lists images', async () => {
    expect(await provider.getServerGroup('search-prod-v009')).toBeUndefined();
    expect(await provider.getImage('img-nothing')).toBeUndefined();
    expect((await provider.listImages({ service: 'search' })).map((i) => i.id)).toEqual(['img-test1']);
  });

  it('refuses a reader that writes, bad names, and impossible capacity', async () => {
    const reader = createLocalProvider({ baseUrl, token: 'reader-token' });
    await expect(reader.deregisterImage('img-test1')).rejects.toThrow(/platform role/);
    const bad = await fetch(`${baseUrl}/server-groups/Search-prod`, {
      headers: { Authorization: 'Bearer reader-token' },
    });
    expect(bad.status).toBe(400);
    await provider.createLaunchTemplate({
      name: 'search-prod-v001',
      imageId: 'img-test1',
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await expect(
      provider.createServerGroup({
        name: 'search-prod-v001',
        launchTemplate: 'search-prod-v001',
        min: 3,
        desired: 1,
        max: 4,
        targetGroups: [],
      }),
    ).rejects.toThrow(/min ≤ desired ≤ max/);
  });

  it("streams the load balancer's failures to a reader as they happen; a target group not there ends the stream", async () => {
    await writeTestImage(join(home, 'images'), 'img-failing', { errorRate: 1 });
    await provider.createLoadBalancer(loadBalancer);
    const name = 'search-prod-v002';
    await provider.createLaunchTemplate({
      name,
      imageId: 'img-failing',
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await provider.createServerGroup({
      name,
      launchTemplate: name,
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: ['search'],
    });
    await eventually(
      () => provider.describeTargetHealth('search'),
      (h) => h[0]?.state === 'healthy',
      'the target healthy',
    );
    const reader = createLocalProvider({ baseUrl, token: 'reader-token' });
    const heard: TrafficEvent[] = [];
    const subscription = reader.watchTraffic!('search', (event) => heard.push(event));
    const send = async () => (await fetch(`http://127.0.0.1:${loadBalancer.port}/`)).arrayBuffer();
    // The first failure is heard live, or (subscribed after it) as the target failing now.
    await send();
    await eventually(
      async () => heard,
      (h) => h.length === 1,
      'the first failure heard',
    );
    await send();
    await send();
    await eventually(
      async () => heard,
      (h) => h.length === 3,
      'three failures heard',
    );
    expect(heard.map((e) => [e.group, e.outcome, e.consecutiveFailures])).toEqual([
      [name, '5xx', 1],
      [name, '5xx', 2],
      [name, '5xx', 3],
    ]);
    subscription.close();
    let ended = false;
    reader.watchTraffic!(
      'nothere',
      () => undefined,
      () => (ended = true),
    );
    await eventually(
      async () => ended,
      (e) => e,
      'the stream ended',
    );
  });
});

describe("the daemon's traffic stream is capped per token and in total (#24 item 6 follow-up)", () => {
  it('refuses a 21st follower of one person with a 429, serves another person, and frees a place when one leaves', async () => {
    await provider.createLoadBalancer(loadBalancer);
    const open: AbortController[] = [];
    const follow = async (token: string) => {
      const abort = new AbortController();
      const res = await fetch(`${baseUrl}/target-groups/search/traffic/events`, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      if (res.status === 200) open.push(abort);
      else await res.arrayBuffer();
      return res;
    };
    try {
      for (let i = 0; i < 20; i++) expect((await follow('reader-token')).status).toBe(200);
      const refused = await follow('reader-token');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await follow('deployer-token')).status).toBe(200);
      // The platform's own watches (one a deployment the orchestrators run) are not one person's 20:
      // a 21st was refused, and a deployment's watch heard no hard failure until a place freed.
      for (let i = 0; i < 21; i++) expect((await follow('platform-token')).status).toBe(200);
      open.shift()!.abort();
      await eventually(
        async () => (await follow('reader-token')).status,
        (status) => status === 200,
        'a place freed by the follower that left',
      );
    } finally {
      for (const abort of open) abort.abort();
    }
  });
});

describe("the daemon's writes are the platform's (#24 attack 2)", () => {
  const template = (name: string) => ({
    name,
    imageId: 'img-test1',
    instanceType: 't3.small',
    // What a deployer sent: the daemon runs launch commands as the platform's user.
    userData: { files: {}, commands: [`cp "${home}/admin-token" "${home}/stolen"`] },
  });

  it('refuses a launch template, a server group or a load balancer from a person, deployer or admin, and makes nothing', async () => {
    for (const token of ['deployer-token', 'admin-token']) {
      const person = createLocalProvider({ baseUrl, token });
      await expect(person.createLaunchTemplate(template('search-prod-v007'))).rejects.toThrow(
        /needs the platform role/,
      );
      await expect(
        person.createServerGroup({
          name: 'search-prod-v007',
          launchTemplate: 'x',
          min: 1,
          desired: 1,
          max: 1,
          targetGroups: [],
        }),
      ).rejects.toThrow(/needs the platform role/);
      await expect(person.createLoadBalancer(loadBalancer)).rejects.toThrow(/needs the platform role/);
      await expect(person.deregisterImage('img-test1')).rejects.toThrow(/needs the platform role/);
    }
    expect(await provider.getLaunchTemplate('search-prod-v007')).toBeUndefined();
    expect(await provider.getServerGroup('search-prod-v007')).toBeUndefined();
    expect(await provider.getImage('img-test1')).toBeDefined();
  });

  it('refuses to deregister an image a server group uses, and keeps it', async () => {
    await provider.createLaunchTemplate({ ...template('search-prod-v008'), userData: { files: {}, commands: [] } });
    await provider.createServerGroup({
      name: 'search-prod-v008',
      launchTemplate: 'search-prod-v008',
      min: 0,
      desired: 0,
      max: 1,
      targetGroups: [],
    });
    await expect(provider.deregisterImage('img-test1')).rejects.toThrow(
      /img-test1 is used by server group search-prod-v008/,
    );
    expect(await provider.getImage('img-test1')).toBeDefined();
  });
});

async function sendTraffic(lb: LoadBalancerSpec, _group: string, requests: number): Promise<void> {
  for (let i = 0; i < requests; i++) await (await fetch(`http://127.0.0.1:${lb.port}/`)).arrayBuffer();
}
