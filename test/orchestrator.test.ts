import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '@slipway/test-utils';
import { cli } from './e2e/slipway.js';
import { deploymentEnds, startSearchPlatform, steadyTraffic, type SearchPlatform } from './fixtures/search-platform.js';

// The orchestrator's drills against the real local cloud, real Redis and real processes.
let search: SearchPlatform;
// Retained groups are scaled to zero a second after they leave service (and scaled back up by an undo).
const quick = { strategy: { burnInSeconds: 1, drainSeconds: 1, scaleDownAfterSeconds: 1 } };
const slipway = async (...args: string[]) =>
  cli({
    SLIPWAY_HOME: search.home,
    SLIPWAY_URL: `http://127.0.0.1:${search.portBase}`,
    XDG_CONFIG_HOME: search.home,
  }).slipway(args);

type Environment = {
  active: { name: string; image: string } | null;
  retained: { name: string; disabled: boolean }[];
};

beforeAll(async () => {
  search = await startSearchPlatform({ env: { SLIPWAY_RETENTION_SWEEP_MS: '300' } });
}, 240_000);

afterAll(async () => {
  await search?.stop();
});

async function deploy(image: string, extra: Record<string, unknown> = {}, env = 'prod') {
  const res = await search.api<{ id: string; detail?: string }>('orchestrator', '/deployments', {
    method: 'POST',
    body: { service: 'search', env, image, message: `deploy ${image}`, params: quick, ...extra },
  });
  return res;
}

const environment = async (env = 'prod') =>
  (await search.api<Environment>('orchestrator', `/services/search/envs/${env}`)).body;

const version = async (url: string) => ((await (await fetch(url)).json()) as { version: string }).version;

describe('drill 1: red-black under steady traffic', () => {
  it('moves from v1 to v2 with no failed request, the old group disabled and retained', async () => {
    const first = await deploy(search.images.v1);
    expect(first.status).toBe(202);
    expect((await deploymentEnds(search, first.body.id)).state).toBe('succeeded');
    expect(await version(search.prodUrl)).toBe('1.0.0');

    const traffic = steadyTraffic(search.prodUrl);
    const second = await deploy(search.images.v2);
    const done = await deploymentEnds(search, second.body.id);
    const counts = await traffic.stop();
    expect(done.state).toBe('succeeded');
    expect(counts.failed).toBe(0);
    expect(counts.ok).toBeGreaterThan(20);
    expect(await version(search.prodUrl)).toBe('2.0.0');
    const cluster = await environment();
    expect(cluster.active?.image).toBe(search.images.v2);
    expect(cluster.retained).toEqual([expect.objectContaining({ name: 'search-prod-v001', disabled: true })]);
  });
});

describe('drill 2: a version whose health check fails in service', () => {
  it('is rolled back automatically: traffic on v2, the deployment rolled-back with the reason', async () => {
    const traffic = steadyTraffic(search.prodUrl);
    const broken = await deploy(search.images.v3, { params: { strategy: { burnInSeconds: 15, drainSeconds: 1 } } });
    const done = await deploymentEnds(search, broken.body.id);
    const counts = await traffic.stop();
    expect(done.state).toBe('rolled-back');
    expect(done.reason).toMatch(/failed its health check .* answered 500/);
    expect(await version(search.prodUrl)).toBe('2.0.0');
    expect((await environment()).active?.image).toBe(search.images.v2);
    expect(counts.versions).toContain('2.0.0');
    // Its group, kept out of service, is marked in every view as one that never served successfully.
    const status = await slipway('status', 'search', 'prod');
    expect(status.stdout).toMatch(
      /search-prod-v003 out of service 3\.0\.0 .*never served successfully \(rolled-back\)/,
    );
    expect(status.stdout).not.toMatch(/search-prod-v002 .*never served/);
  });
});

describe('drill 4: one deployment per service+env', () => {
  it('runs exactly one of 20 at once; the others are refused naming it', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => deploy(search.images.v1)));
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted).toHaveLength(1);
    const refused = answers.filter((a) => a.status === 409);
    expect(refused).toHaveLength(19);
    for (const answer of refused) expect(answer.body.detail).toContain(accepted[0]!.body.id);
    // Said for programs too: a stable code and its facts, which the CLI puts in its own words.
    for (const answer of refused)
      expect(answer.body).toMatchObject({
        code: 'cluster-busy',
        args: { service: 'search', env: 'prod', deployment: accepted[0]!.body.id },
      });
    const done = await deploymentEnds(search, accepted[0]!.body.id);
    expect(done.state).toBe('succeeded');
    // Retention by last known good: the rolled-back v003 goes first, v002 (serving a minute ago) and v001 stay.
    expect(done.actions.find((a) => a.name === 'destroy-old-groups')).toMatchObject({
      output: 'destroyed search-prod-v003 (never served successfully); retained search-prod-v002, search-prod-v001',
    });
    expect((await environment()).retained.map((g) => g.name)).toEqual(['search-prod-v001', 'search-prod-v002']);
  });

  it('queues in order with queue: true', async () => {
    const ids: string[] = [];
    for (const image of [search.images.v2, search.images.v1]) {
      const res = await deploy(image, { queue: true });
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    const [a, b] = [await deploymentEnds(search, ids[0]!), await deploymentEnds(search, ids[1]!)];
    expect([a.state, b.state]).toEqual(['succeeded', 'succeeded']);
    const list = await search.api<{ items: { id: string; startedAt: string; finishedAt: string }[] }>(
      'orchestrator',
      '/deployments?service=search&env=prod&limit=2',
    );
    const [second, first] = list.body.items;
    expect([first!.id, second!.id]).toEqual(ids);
    expect(Date.parse(second!.startedAt)).toBeGreaterThanOrEqual(Date.parse(first!.finishedAt));
    expect(await version(search.prodUrl)).toBe('1.0.0');
  });
});

describe('drill 5: pause, resume, cancel, undo', () => {
  it('pauses at the next action boundary and resumes from there', async () => {
    const res = await deploy(search.images.v2);
    await search.api('orchestrator', `/deployments/${res.body.id}/pause`, { method: 'POST' });
    const paused = await eventually(
      async () =>
        (await search.api<{ state: string; current: number }>('orchestrator', `/deployments/${res.body.id}`)).body,
      (d) => d.state !== 'queued' && d.state !== 'running',
      'the pause',
    );
    expect(paused.state).toBe('paused');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await search.api<{ current: number }>('orchestrator', `/deployments/${res.body.id}`)).body.current).toBe(
      paused.current,
    ); // it stays where it stopped
    const resumed = await search.api<{ state: string }>('orchestrator', `/deployments/${res.body.id}/resume`, {
      method: 'POST',
    });
    expect(resumed.status).toBe(202);
    expect((await deploymentEnds(search, res.body.id)).state).toBe('succeeded');
    expect(await version(search.prodUrl)).toBe('2.0.0');
    // Resumed again once it finished: said in words, not "deployment dep-… is succeeded".
    const again = await search.api<{ detail: string }>('orchestrator', `/deployments/${res.body.id}/resume`, {
      method: 'POST',
    });
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe(`deployment ${res.body.id} has finished (succeeded): nothing to resume`);
  });

  it('cancels mid-deployment and leaves the service as it was', async () => {
    const before = await environment();
    const res = await deploy(search.images.v1, { params: { strategy: { burnInSeconds: 30, drainSeconds: 1 } } });
    // Cancel while it watches the new group in service: the hardest place to stop.
    await eventually(
      async () =>
        (await search.api<{ context: { progress?: string } }>('orchestrator', `/deployments/${res.body.id}`)).body,
      (d) => /burn-in/.test(d.context.progress ?? ''),
      'the burn-in',
    );
    await search.api('orchestrator', `/deployments/${res.body.id}/cancel`, { method: 'POST' });
    const done = await deploymentEnds(search, res.body.id);
    expect(done.state).toBe('cancelled');
    const after = await environment();
    expect(after.active).toEqual(before.active);
    expect(after.retained.map((g) => g.name)).toEqual(before.retained.map((g) => g.name));
    expect(await version(search.prodUrl)).toBe('2.0.0');
  });

  it('undoes the last release: the previous image and config commit, its retained group re-enabled', async () => {
    // Retained a while, the group the undo goes back to was scaled to zero (scaleDownAfterSeconds).
    const target = (
      await search.api<{ clusters: { to: { group?: string } }[] }>(
        'orchestrator',
        '/services/search/envs/prod/undo/preview',
        { method: 'POST', body: {} },
      )
    ).body.clusters[0]!.to.group!;
    await eventually(
      async () => (await slipway('status', 'search', 'prod')).stdout,
      (text) => new RegExp(`${target} out of service .*scaled to zero`).test(text),
      `${target} scaled to zero`,
    );
    const res = await search.api<{ id: string }>('orchestrator', '/services/search/envs/prod/undo', {
      method: 'POST',
      body: { message: 'back' },
    });
    expect(res.status).toBe(202);
    const done = await deploymentEnds(search, res.body.id);
    expect(done.state).toBe('succeeded');
    expect(done.context.reuseGroup).toBe(true);
    expect(done.context.group).toBe(target);
    expect(await version(search.prodUrl)).toBe('1.0.0');
    // Scaled back up, and the record says how long that took.
    expect(done.context.scaleUp).toMatchObject({ from: 0, to: 2, tookMs: expect.any(Number) });
    expect(done.actions.find((a) => a.name === 'wait-for-instance-health')?.output).toMatch(
      /; scaled back up from 0 to 2 in \d+\.\d s$/,
    );
  });

  it('refuses what cannot be deployed before queuing it, naming what is wrong', async () => {
    const unknown = await deploy('img-000000000000');
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail).toMatch(/no image img-000000000000/);
    const badRef = await deploy(search.images.v1, { configRef: 'no-such-branch' });
    expect(badRef.status).toBe(422);
    const badParams = await deploy(search.images.v1, { params: { capacity: { desired: -1 } } });
    expect(badParams.status).toBe(422);
    expect(badParams.body.detail).toMatch(/capacity\/desired/);
    const reader = await search.api('orchestrator', '/deployments', {
      method: 'POST',
      token: search.platform.readerToken,
      body: { service: 'search', env: 'prod', image: search.images.v1, message: 'x' },
    });
    expect(reader.status).toBe(403);
  });
});
