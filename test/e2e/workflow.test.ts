import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform, type Platform } from '@slipway/platform';
import { EXAMPLE_SERVICE_DIR, freePortBase } from '@slipway/test-utils';

// The demo's workflow, driven only through the `slipway` binary against the platform started as
// `npm start` starts it (built packages, free ports, a home of its own).
let home: string;
let portBase: number;
let platform: Platform;
const work: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-e2e-'));
  portBase = await freePortBase(87);
  // The example stack's health checks are AWS's shortest (every 5 s); the local cloud runs them every second here.
  platform = await startPlatform({ home, portBase, env: { SLIPWAY_CLOUD_TIME_SCALE: '0.2' } });
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  for (const dir of [home, ...work]) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function slipway(...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['packages/cli/bin/slipway.cjs', ...args], {
    env: { ...process.env, SLIPWAY_HOME: home, SLIPWAY_URL: `http://127.0.0.1:${portBase}`, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.once('close', (code) => {
      run.code = code;
      resolve(run);
    }),
  );
}

async function checkout(version: string, unhealthyAfterSeconds = 0): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `search-${version}-`));
  work.push(dir);
  await cp(EXAMPLE_SERVICE_DIR, dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ ...manifest, version }));
  await writeFile(join(dir, 'broken.json'), JSON.stringify({ unhealthyAfterSeconds }));
  return dir;
}

const lb = () => `http://127.0.0.1:${portBase + 80}/`;
const version = async () => ((await (await fetch(lb())).json()) as { version: string }).version;
const lastLine = (text: string) => text.trim().split('\n').pop()!.trim();
const images: Record<string, string> = {};

describe('the workflow through slipway', () => {
  it('registers the service, with JSON values parsed', async () => {
    const set = await slipway('services', 'add', 'search', 'owner=team-search', 'replicas=3');
    expect(set).toMatchObject({ code: 0 });
    const shown = await slipway('--json', 'services', 'show', 'search');
    expect(JSON.parse(shown.stdout).metadata).toEqual({ owner: 'team-search', replicas: 3 });
  });

  it('builds 1.0.0 and bakes the base and the service, printing the image last', async () => {
    const built = await slipway('build', 'search', '--dir', await checkout('1.0.0'));
    expect(built).toMatchObject({ code: 0, stdout: 'search 1.0.0\n' });
    expect((await slipway('bake', 'base')).code).toBe(0);
    const baked = await slipway('bake', 'search', '1.0.0');
    expect(baked.code).toBe(0);
    images.v1 = lastLine(baked.stdout);
    expect(images.v1).toMatch(/^img-[0-9a-f]{12}$/);
    const again = await slipway('bake', 'search', '1.0.0');
    expect(lastLine(again.stdout)).toBe(images.v1); // the same inputs: the same image
  }, 120_000);

  it('plans and applies the infrastructure stack', async () => {
    const plan = await slipway('--json', 'infra', 'plan', 'search');
    expect(plan.code).toBe(0);
    const planned = JSON.parse(plan.stdout) as { id: string; summary: { create: number } };
    expect(planned.summary.create).toBe(8); // two security groups, the role, five load balancers (prod, staging, prod-a/b/c)
    const applied = await slipway('infra', 'apply', planned.id);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/✓ create search-prod/);
    expect((await fetch(lb())).status).toBe(503);
  });

  it('deploys 1.0.0 to prod, following every action, and it answers through the load balancer', async () => {
    const deployed = await slipway('deploy', 'search', 'prod', images.v1!, '-m', 'The first search');
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toMatch(/✓ create-server-group .* search-prod-v001/);
    expect(deployed.stdout).toMatch(/✓ burn-in/);
    expect(lastLine(deployed.stdout)).toMatch(/succeeded$/);
    expect(await version()).toBe('1.0.0');
  }, 60_000);

  it('deploys 1.1.0 under load with no failed request', async () => {
    await slipway('build', 'search', '--dir', await checkout('1.1.0'));
    images.v2 = lastLine((await slipway('bake', 'search', '1.1.0')).stdout);
    let running = true;
    let failed = 0;
    let answered = 0;
    const load = (async () => {
      while (running) {
        const answer = await fetch(lb()).catch(() => undefined);
        if (answer?.status === 200) answered++;
        else failed++;
        await answer?.text();
      }
    })();
    const deployed = await slipway('deploy', 'search', 'prod', images.v2, '-m', 'Making everything faster');
    running = false;
    await load;
    expect(deployed.code).toBe(0);
    expect({ answered: answered > 20, failed }).toEqual({ answered: true, failed: 0 });
    expect(await version()).toBe('1.1.0');
  }, 120_000);

  it('deploys a broken 1.2.0: rolled back automatically, exit 1, traffic still on 1.1.0', async () => {
    await slipway('build', 'search', '--dir', await checkout('1.2.0', 5));
    images.v3 = lastLine((await slipway('bake', 'search', '1.2.0')).stdout);
    const deployed = await slipway('deploy', 'search', 'prod', images.v3, '-m', 'A risky change', '--burn-in', '15');
    expect(deployed.code).toBe(1);
    expect(deployed.stderr).toMatch(/rolled-back: (burn-in: )?instance .* failed its health check/);
    expect(await version()).toBe('1.1.0');
  }, 120_000);

  it('undoes to the release before, and the history says it all', async () => {
    const undone = await slipway('undo', 'search', 'prod', '-m', 'Back');
    expect(undone.code).toBe(0);
    expect(await version()).toBe('1.0.0');
    const history = await slipway('--json', 'history', 'search', 'prod');
    const items = (JSON.parse(history.stdout) as { items: { state: string; message: string }[] }).items;
    expect(items.map((d) => [d.message, d.state])).toEqual([
      ['Back', 'succeeded'],
      ['A risky change', 'rolled-back'],
      ['Making everything faster', 'succeeded'],
      ['The first search', 'succeeded'],
    ]);
  }, 60_000);

  it('answers usage errors with exit 2 and no hang without a terminal, failures with a one-line detail', async () => {
    expect(await slipway('deploy')).toMatchObject({ code: 2, stderr: 'slipway: missing service\n' });
    expect((await slipway('frobnicate')).code).toBe(2);
    const unknown = await slipway('deploy', 'search', 'prod', 'img-000000000000', '-m', 'x');
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'slipway: search has no image img-000000000000 (slipway images search)\n',
    });
    expect((await slipway('completion', 'bash')).stdout).toMatch(/complete -F _slipway slipway/);
  });
});
