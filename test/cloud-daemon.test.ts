import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider, type CloudProvider } from '@slipway/cloud';
import {
  eventually,
  FAST_TIME_SCALE,
  fastLoadBalancer,
  freePort,
  stopProcess,
  writeTestImage,
} from '@slipway/test-utils';

// The local cloud daemon as npm start runs it: a process of its own, killed and started again.
let home: string;
let port: number;
let lbPort: number;
let daemon: ChildProcess;
let cloud: CloudProvider;

function startDaemon(): ChildProcess {
  return spawn(process.execPath, ['packages/cloud/dist/main.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      SLIPWAY_HOME: home,
      SLIPWAY_TOKENS_FILE: join(home, 'tokens.json'),
      SLIPWAY_CLOUD_TIME_SCALE: String(FAST_TIME_SCALE),
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
}

/** Alive and not a zombie waiting to be reaped (an orphan's reaper here may be slow). */
const alive = (pid: number) => {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
};

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-daemon-'));
  await writeFile(join(home, 'tokens.json'), JSON.stringify({ t: { subject: 'test', role: 'admin' } }));
  await writeTestImage(join(home, 'images'), 'img-test1');
  port = await freePort();
  lbPort = await freePort();
  daemon = startDaemon();
  cloud = createLocalProvider({ baseUrl: `http://127.0.0.1:${port}`, token: 't' });
  await eventually(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok), Boolean, 'the daemon');
});

afterAll(async () => {
  await stopProcess(daemon);
  await rm(home, { recursive: true, force: true });
});

describe('the local cloud daemon', () => {
  it('adopts live instances after a kill -9 of itself, and stops them when stopped', async () => {
    await cloud.createLaunchTemplate({
      name: 'search-prod-v001',
      imageId: 'img-test1',
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await cloud.createLoadBalancer(fastLoadBalancer(lbPort));
    await cloud.createServerGroup({
      name: 'search-prod-v001',
      launchTemplate: 'search-prod-v001',
      min: 2,
      desired: 2,
      max: 2,
      targetGroups: ['search'],
    });
    const healthy = (h: Array<{ state: string }>) => h.filter((t) => t.state === 'healthy').length === 2;
    await eventually(() => cloud.describeTargetHealth('search'), healthy, 'two healthy targets');
    const before = (await cloud.getServerGroup('search-prod-v001'))!.instances.map((i) => i.id).sort();
    const state = JSON.parse(await readFile(join(home, 'cloud', 'state.json'), 'utf8'));
    const pids = Object.values(state.serverGroups['search-prod-v001'].instances).map((i) => (i as { pid: number }).pid);

    daemon.kill('SIGKILL');
    await new Promise((r) => daemon.once('exit', r));
    expect(pids.every(alive)).toBe(true); // instances outlive their daemon

    daemon = startDaemon();
    await eventually(() => cloud.describeTargetHealth('search'), healthy, 'adopted targets healthy');
    const after = (await cloud.getServerGroup('search-prod-v001'))!.instances.map((i) => i.id).sort();
    expect(after).toEqual(before);
    expect((await fetch(`http://127.0.0.1:${lbPort}/`)).status).toBe(200);

    await stopProcess(daemon); // SIGTERM, as npm start's Ctrl-C
    expect(pids.some(alive)).toBe(false);
  });
});
