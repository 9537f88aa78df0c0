import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createLocalProvider, type CloudProvider } from '@slipway/cloud';
import { STRATEGIES } from '@slipway/orchestrator';
import { eventually, freePort, stopProcess } from '@slipway/test-utils';
import { startSearchPlatform, type SearchPlatform } from './fixtures/search-platform.js';

// Drill 3: an orchestrator of its own (its own keys and queue) against the platform's services,
// killed with SIGKILL after each action in turn, and once inside a long wait.
let search: SearchPlatform;
let cloud: CloudProvider;
let port: number;

beforeAll(async () => {
  search = await startSearchPlatform();
  cloud = createLocalProvider({ baseUrl: search.platform.urls.cloud!, token: search.platform.adminToken });
  port = await freePort();
}, 240_000);

afterAll(async () => {
  await search?.stop();
});

function orchestrator(crashAfter?: string): ChildProcess {
  const { urls } = search.platform;
  return spawn(process.execPath, ['packages/orchestrator/dist/main.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      REDIS_URL: search.platform.redisUrl,
      SLIPWAY_HOME: search.home,
      SLIPWAY_TOKENS_FILE: join(search.home, 'tokens.json'),
      SLIPWAY_TOKEN: search.platform.adminToken,
      SLIPWAY_CLOUD: 'local',
      SLIPWAY_CLOUD_URL: urls.cloud,
      SLIPWAY_METADATA_URL: urls.metadata,
      SLIPWAY_CONFIG_URL: urls.config,
      SLIPWAY_BAKING_URL: urls.baking,
      SLIPWAY_ORCHESTRATOR_PREFIX: 'test:crash:',
      SLIPWAY_ORCHESTRATOR_JOB_LOCK_MS: '2000',
      SLIPWAY_ORCHESTRATOR_SWEEP_MS: '1000',
      ...(crashAfter ? { SLIPWAY_ORCHESTRATOR_CRASH_AFTER: crashAfter } : {}),
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
}

async function started(child: ChildProcess): Promise<ChildProcess> {
  await eventually(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok), Boolean, 'the orchestrator');
  return child;
}

/** Waits for the child to end; gives up (and kills it) after `ms`, saying so. */
const exited = (child: ChildProcess, ms = 60_000) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(false);
        }, ms);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });

const api = async <T>(path: string, body?: unknown): Promise<T> =>
  (await (
    await fetch(`http://127.0.0.1:${port}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { Authorization: `Bearer ${search.platform.adminToken}`, 'Content-Type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
  ).json()) as T;

type Deployment = { id: string; state: string; reason?: string; context: { group?: string; progress?: string } };

const deploy = (image: string, burnInSeconds: number) =>
  api<{ id: string }>('/deployments', {
    service: 'search',
    env: 'staging',
    image,
    message: 'crash drill',
    params: { strategy: { burnInSeconds, drainSeconds: 0, retainedGroups: 10 } },
  });

const ends = async (id: string) => {
  try {
    return await eventually(
      () => api<Deployment>(`/deployments/${id}`),
      (d) => ['succeeded', 'failed', 'rolled-back', 'cancelled'].includes(d.state),
      `deployment ${id}`,
      60_000,
    );
  } catch (error) {
    const d = await api<Deployment & { current: number; actions: { name: string; state: string }[] }>(
      `/deployments/${id}`,
    );
    throw new Error(
      `${(error as Error).message.slice(0, 80)}… at action ${d.current}: ${d.actions.map((a) => `${a.name}=${a.state}`).join(' ')}`,
    );
  }
};

describe('drill 3: the orchestrator killed with SIGKILL', () => {
  it('finishes every deployment after a restart, at each action boundary, with exactly one new group', async () => {
    const actions = STRATEGIES['red-black'].map((a) => a.name);
    for (const [index, action] of actions.entries()) {
      const crashing = await started(orchestrator(action));
      const { id } = await deploy(index % 2 ? search.images.v1 : search.images.v2, 0);
      const crashed = await exited(crashing, 30_000);
      expect({ action, crashed }).toEqual({ action, crashed: true });
      const again = await started(orchestrator());
      try {
        const done = await ends(id);
        expect({ action, state: done.state, reason: done.reason }).toEqual({
          action,
          state: 'succeeded',
          reason: undefined,
        });
        // One new group per deployment: a duplicate would have taken the next number.
        expect(done.context.group).toBe(`search-staging-v${String(index + 1).padStart(3, '0')}`);
        const groups = (await cloud.listServerGroups('search-staging')).map((g) => g.name);
        expect(groups).toHaveLength(Math.min(index + 1, 11)); // the new one and 10 retained, none orphaned
        expect(groups).toContain(done.context.group);
      } finally {
        await stopProcess(again);
      }
    }
  }, 600_000);

  it('finishes a deployment killed inside its burn-in wait', async () => {
    const groups = await cloud.listServerGroups('search-staging');
    const before = groups.length;
    const next = groups.length ? Number(/v(\d+)$/.exec(groups[groups.length - 1]!.name)![1]) + 1 : 1;
    let child = await started(orchestrator());
    const { id } = await deploy(search.images.v1, 4);
    await eventually(
      () => api<Deployment>(`/deployments/${id}`),
      (d) => /burn-in/.test(d.context.progress ?? ''),
      'the burn-in',
    );
    child.kill('SIGKILL');
    await exited(child);
    child = await started(orchestrator());
    try {
      const done = await ends(id);
      expect(done.state).toBe('succeeded');
      expect(done.context.group).toBe(`search-staging-v${String(next).padStart(3, '0')}`); // one new group
      expect(await cloud.listServerGroups('search-staging')).toHaveLength(Math.min(before + 1, 11));
      const deployment = await api<{ actions: { name: string; attempts: number }[] }>(`/deployments/${id}`);
      expect(deployment.actions.find((a) => a.name === 'burn-in')?.attempts).toBe(2); // run again, once
    } finally {
      await stopProcess(child);
    }
  }, 120_000);
});
