import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider } from '@slipway/cloud';
import { startPlatform, supervisionDrill, type Platform } from '@slipway/platform';
import { eventually, fastLoadBalancer, freePort, freePortBase, writeTestImage } from '@slipway/test-utils';

// `npm start` supervising: every child killed with SIGKILL in turn under traffic to a service
// in the local cloud. A longer run with more rounds: `npm run bench -- supervision`.
let home: string;
let platform: Platform;
const said: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-supervision-'));
  platform = await startPlatform({ home, portBase: await freePortBase(82), warn: (line) => said.push(line) });
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('npm start supervises its processes', () => {
  it('answers a prompt 503 with Retry-After from every service while Redis is down, and recovers by itself', async () => {
    const headers = { Authorization: `Bearer ${platform.adminToken}` };
    const paths: Record<string, string> = {
      metadata: '/services',
      baking: '/bakes/bake-0123456789ab',
      infra: '/stacks/search/history',
      orchestrator: '/deployments',
    };
    const call = (name: string) => fetch(`${platform.urls[name as 'metadata']}${paths[name]}`, { headers });
    const redis = platform.processes.find((p) => p.name === 'redis')!;
    redis.hold();
    redis.child.kill('SIGKILL');
    await eventually(
      async () => redis.running,
      (running) => !running,
      'redis down',
    );
    const latencies: number[] = [];
    const answers: string[] = [];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Object.keys(paths).flatMap((name) =>
          Array.from({ length: 4 }, async () => {
            const started = performance.now();
            const res = await call(name);
            latencies.push(performance.now() - started);
            const problem = (await res.json()) as { status: number; detail: string };
            answers.push(
              `${name} ${res.status} ${res.headers.get('retry-after')} ${res.headers.get('content-type')} ${problem.detail}`,
            );
          }),
        ),
      );
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.floor(q * (latencies.length - 1))]!.toFixed(1);
    console.log(
      `503s while Redis was down: ${latencies.length}, median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`,
    );
    for (const name of Object.keys(paths)) {
      expect(answers).toContain(
        `${name} 503 1 application/problem+json; charset=utf-8 Redis is unreachable; try again shortly`,
      );
    }
    expect(new Set(answers).size).toBe(Object.keys(paths).length);
    // Authentication needs no Redis and comes first: no token or a bad one is still a 401,
    // and says nothing of the outage.
    for (const name of Object.keys(paths)) {
      for (const given of [{}, { Authorization: 'Bearer not-a-token' }] as Array<Record<string, string>>) {
        const res = await fetch(`${platform.urls[name as 'metadata']}${paths[name]}`, { headers: given });
        expect([name, res.status, res.headers.get('retry-after')]).toEqual([name, 401, null]);
        expect(await res.text()).not.toContain('Redis');
      }
    }

    redis.resume();
    for (const name of Object.keys(paths)) {
      await eventually(
        () => call(name).then((res) => res.status),
        (status) => status === 200 || status === 404,
        `${name} answering again`,
      );
    }
  });

  it('restarts each one killed with SIGKILL, and the service in the local cloud never fails a request', async () => {
    const cloud = createLocalProvider({ baseUrl: platform.urls.cloud!, token: platform.serviceTokens.orchestrator! });
    await writeTestImage(join(home, 'images'), 'img-drill1', { service: 'drill' });
    const lbPort = await freePort();
    await cloud.createLoadBalancer(fastLoadBalancer(lbPort, 'drill'));
    await cloud.createLaunchTemplate({
      name: 'drill-prod-v001',
      imageId: 'img-drill1',
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await cloud.createServerGroup({
      name: 'drill-prod-v001',
      launchTemplate: 'drill-prod-v001',
      min: 2,
      desired: 2,
      max: 2,
      targetGroups: ['drill'],
    });
    await eventually(
      () => cloud.describeTargetHealth('drill'),
      (h) => h.filter((t) => t.state === 'healthy').length === 2,
      'two healthy targets',
    );

    const figures = await supervisionDrill({ platform, target: `http://127.0.0.1:${lbPort}/` });
    console.log(`supervision drill: ${JSON.stringify(figures)}`);
    expect(figures.kills.map((k) => k.name)).toEqual(platform.processes.map((p) => p.name));
    expect(figures.requests).toBeGreaterThan(0);
    expect(figures.failureReasons).toEqual([]);
    expect(figures.failures).toBe(0);
    // The supervisor says a process is back when its own check passes, which may be a moment
    // after the drill's.
    await eventually(
      async () => said,
      (lines) => figures.kills.every(({ name }) => lines.some((line) => line.startsWith(`${name} is back`))),
      'every process said to be back',
    );
    for (const { name } of figures.kills) {
      expect(said).toContainEqual(expect.stringMatching(new RegExp(`^${name} exited \\(SIGKILL\\); restarting it`)));
      expect(said).toContainEqual(expect.stringMatching(new RegExp(`^${name} is back`)));
    }
    // The restarted daemon adopted what ran: the same two instances, still serving.
    const group = await cloud.getServerGroup('drill-prod-v001');
    expect(group?.instances.filter((i) => i.lifecycle === 'running')).toHaveLength(2);

    // Ctrl-C while the local cloud's daemon is down still stops its instances and load balancers.
    const daemon = platform.processes.find((p) => p.name === 'cloud')!;
    daemon.hold();
    daemon.child.kill('SIGKILL');
    await eventually(
      async () => daemon.running,
      (running) => !running,
      'the daemon down',
    );
    expect((await fetch(`http://127.0.0.1:${lbPort}/`)).status).toBe(200);
    await platform.stop(); // what Ctrl-C does
    await expect(fetch(`http://127.0.0.1:${lbPort}/`)).rejects.toThrow();
    for (const url of Object.values(platform.urls)) await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 240_000);
});
