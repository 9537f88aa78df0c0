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
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('npm start supervises its processes', () => {
  it('restarts each one killed with SIGKILL, and the service in the local cloud never fails a request', async () => {
    const cloud = createLocalProvider({ baseUrl: platform.urls.cloud!, token: platform.adminToken });
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
    for (const { name } of figures.kills) {
      expect(said).toContainEqual(expect.stringMatching(new RegExp(`^${name} exited \\(SIGKILL\\); restarting it`)));
      expect(said).toContainEqual(expect.stringMatching(new RegExp(`^${name} is back`)));
    }
    // The restarted daemon adopted what ran: the same two instances, still serving.
    const group = await cloud.getServerGroup('drill-prod-v001');
    expect(group?.instances.filter((i) => i.lifecycle === 'running')).toHaveLength(2);

    await platform.stop(); // what Ctrl-C does
    await expect(fetch(`http://127.0.0.1:${lbPort}/`)).rejects.toThrow();
    for (const url of Object.values(platform.urls)) await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 240_000);
});
