import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalProvider, type CloudProvider } from '@slipway/cloud';
import { type Redis, createRedis } from '@slipway/core/redis';
import { createRedisStackLocks } from '@slipway/infra';
import {
  eventually,
  freePort,
  gitRepo,
  startRedis,
  stopProcess,
  type TestGitRepo,
  type TestRedis,
} from '@slipway/test-utils';

// The infra service as npm start runs it, killed with SIGKILL in the middle of an apply.
let home: string;
let redisServer: TestRedis;
let redis: Redis;
let repo: TestGitRepo;
let cloudDaemon: ChildProcess;
let cloud: CloudProvider;
let cloudPort: number;
let infraPort: number;
const lbPorts: number[] = [];
const headers = { Authorization: 'Bearer t', 'Content-Type': 'application/json' };

function startInfra(): ChildProcess {
  return spawn(process.execPath, ['packages/infra/dist/main.js'], {
    env: {
      ...process.env,
      PORT: String(infraPort),
      REDIS_URL: redisServer.url,
      SLIPWAY_HOME: home,
      SLIPWAY_TOKENS_FILE: join(home, 'tokens.json'),
      // The infra service drives the local cloud: its own token has the platform role.
      SLIPWAY_TOKEN: 'infra-token',
      SLIPWAY_CLOUD: 'local',
      SLIPWAY_CLOUD_URL: `http://127.0.0.1:${cloudPort}`,
      SLIPWAY_INFRA_REPO_URL: repo.url,
      // A short lease and job lock, and paced steps, so the kill lands mid-apply and recovery is quick.
      SLIPWAY_INFRA_LOCK_LEASE_MS: '2000',
      SLIPWAY_INFRA_JOB_LOCK_MS: '2000',
      SLIPWAY_INFRA_STEP_INTERVAL_MS: '1000',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
}

const infra = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${infraPort}${path}`, { headers, ...init });

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-infra-kill-'));
  await writeFile(
    join(home, 'tokens.json'),
    JSON.stringify({
      t: { subject: 'tess', role: 'admin' },
      'infra-token': { subject: 'service:infra', role: 'platform' },
    }),
  );
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  cloudPort = await freePort();
  infraPort = await freePort();
  lbPorts.push(await freePort(), await freePort());
  const lb = (name: string, port: number) => `  ${name}:
    kind: loadBalancer
    port: ${port}
    securityGroups: [web-lb]
    targetGroup: { name: ${name}, healthCheck: { path: /healthcheck } }
`;
  repo = await gitRepo({
    'stacks/web.yaml': `resources:
  web-lb:
    kind: securityGroup
    ingress: [{ protocol: tcp, fromPort: 80, toPort: 80, cidr: 0.0.0.0/0 }]
  web-role:
    kind: iamRole
    trustPolicy: { Version: '2012-10-17', Statement: [{ Effect: Allow, Action: sts:AssumeRole }] }
${lb('web-a', lbPorts[0]!)}${lb('web-b', lbPorts[1]!)}`,
  });
  cloudDaemon = spawn(process.execPath, ['packages/cloud/dist/main.js'], {
    env: {
      ...process.env,
      PORT: String(cloudPort),
      SLIPWAY_HOME: home,
      SLIPWAY_TOKENS_FILE: join(home, 'tokens.json'),
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  cloud = createLocalProvider({ baseUrl: `http://127.0.0.1:${cloudPort}`, token: 't' });
  await eventually(() => fetch(`http://127.0.0.1:${cloudPort}/healthz`).then((r) => r.ok), Boolean, 'the cloud');
});

afterAll(async () => {
  await stopProcess(cloudDaemon);
  await redis.quit();
  await redisServer.stop();
  await repo.remove();
  await rm(home, { recursive: true, force: true });
});

describe('the infra service killed mid-apply', () => {
  it('leaves no lock behind after the lease, and the restarted service finishes the apply once', async () => {
    let service = startInfra();
    await eventually(() => infra('/healthz').then((r) => r.ok), Boolean, 'the infra service');
    const plan = (await (await infra('/stacks/web/plans', { method: 'POST', body: '{}' })).json()) as { id: string };
    const started = await infra(`/plans/${plan.id}/apply`, { method: 'POST' });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    type Apply = { state: string; steps: Array<{ resource: string; state: string; attempts: number }> };
    const read = async () => (await (await infra(`/applies/${id}`)).json()) as Apply;
    await eventually(read, (a) => a.steps[1]?.state === 'done', 'two steps done');

    service.kill('SIGKILL');
    await stopProcess(service);
    const locks = createRedisStackLocks({ redis, prefix: 'slipway:infra:', leaseMs: 2000 });
    expect((await locks.get('web'))?.owner).toBe(id); // still held by the dead worker's apply…
    await eventually(
      () => locks.get('web').then((l) => l ?? null),
      (l) => l === null,
      'the lease to run out',
    );

    service = startInfra();
    try {
      const apply = await eventually(read, (a) => a.state === 'succeeded' || a.state === 'failed', 'the apply', 60_000);
      expect(apply.state).toBe('succeeded');
      expect(apply.steps.map((s) => s.state)).toEqual(['done', 'done', 'done', 'done']);
      const names = (await cloud.listLoadBalancers()).map((lb) => lb.name).sort();
      expect(names).toEqual(['web-a', 'web-b']); // each made once
      for (const port of lbPorts) expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(503);
      const history = (await (await infra('/stacks/web/history')).json()) as { items: unknown[] };
      expect(history.items).toHaveLength(1);
      expect(await locks.get('web')).toBeUndefined();
      const again = (await (await infra('/stacks/web/plans', { method: 'POST', body: '{}' })).json()) as {
        serial: number;
        summary: Record<string, number>;
      };
      expect(again.serial).toBe(1);
      expect(again.summary['no-op']).toBe(4);
    } finally {
      await stopProcess(service);
    }
  });
});
