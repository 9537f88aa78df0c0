import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
      SLIPWAY_LOG_SIZE: '1k',
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
  await writeFile(join(home, 'tokens.json'), JSON.stringify({ t: { subject: 'test', role: 'platform' } }));
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
    // and so does the load balancer process: the service keeps answering through it
    expect((await fetch(`http://127.0.0.1:${lbPort}/`)).status).toBe(200);

    daemon = startDaemon();
    await eventually(() => cloud.describeTargetHealth('search'), healthy, 'adopted targets healthy');
    const after = (await cloud.getServerGroup('search-prod-v001'))!.instances.map((i) => i.id).sort();
    expect(after).toEqual(before);
    expect((await fetch(`http://127.0.0.1:${lbPort}/`)).status).toBe(200);

    await stopProcess(daemon); // SIGTERM, as npm start's Ctrl-C
    expect(pids.some(alive)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${lbPort}/`)).rejects.toThrow(); // its load balancer too
    daemon = startDaemon();
    await eventually(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok), Boolean, 'the daemon');
  });

  it('starts a new load balancer process when its own is killed', async () => {
    await eventually(
      () => cloud.describeTargetHealth('search'),
      (h) => h.length === 2,
      'targets back',
    );
    const balancer = Number(await readFile(join(home, 'cloud', 'balancers.pid'), 'utf8'));
    process.kill(balancer, 'SIGKILL');
    await eventually(
      () =>
        fetch(`http://127.0.0.1:${lbPort}/`).then(
          (r) => r.status,
          () => 0,
        ),
      (status) => status === 200,
      'the load balancer serving again',
    );
    expect(Number(await readFile(join(home, 'cloud', 'balancers.pid'), 'utf8'))).not.toBe(balancer);
  });

  it("rolls the load balancer process's log over, and never logs a token put in a query string", async () => {
    for (const path of ['/?access_token=slw_querysecret&x=1', '/nowhere?slw_querysecret']) {
      expect((await fetch(`http://127.0.0.1:${lbPort}${path}`)).status).toBe(200);
    }
    // The log grown past SLIPWAY_LOG_SIZE, as a busy load balancer process's would be.
    const log = join(home, 'cloud', 'balancers.log');
    await appendFile(log, `${'grown '.repeat(200)}\n`);
    await eventually(
      () => readFile(join(home, 'cloud', 'balancers.1.log'), 'utf8').catch(() => ''),
      (text) => text.includes('grown'),
      'balancers.log rolled over',
    );
    expect(await readFile(log, 'utf8')).not.toContain('grown');
    const logs = (await readdir(join(home, 'cloud'))).filter((name) => /^balancers\..*log$/.test(name));
    expect(logs.sort()).toEqual(['balancers.1.log', 'balancers.log']);
    for (const name of logs) expect(await readFile(join(home, 'cloud', name), 'utf8')).not.toContain('querysecret');
  });

  it('knows no resource named after a property of Object.prototype', async () => {
    const headers = { Authorization: 'Bearer t', 'Content-Type': 'application/json' };
    expect((await fetch(`http://127.0.0.1:${port}/load-balancers/constructor`, { headers })).status).toBe(404);
    const group = await fetch(`http://127.0.0.1:${port}/server-groups/search-prod-v009`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({
        name: 'search-prod-v009',
        launchTemplate: 'constructor',
        min: 1,
        desired: 1,
        max: 1,
        targetGroups: [],
      }),
    });
    expect(group.status).toBe(404);
    expect(await cloud.getServerGroup('search-prod-v009')).toBeUndefined();
  });
});
