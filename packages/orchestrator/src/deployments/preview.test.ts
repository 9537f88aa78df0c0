import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CloudProvider, ServerGroup } from '@slipway/cloud';
import { ConflictError, NotAllowedError, UnprocessableError } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Deployment } from './deployment.js';
import type { Peers } from '../peers.js';
import { changeOf, enforcePolicy, previewOf, skipReason, type ClusterChange } from './preview.js';
import { createRedisDeploymentStore, type DeploymentStore } from './store.js';
import { notOneCluster, resolveName } from '../clusters/targets.js';
import { compareVersions } from '../rollouts/versions.js';

// What a change would do, read against a real Redis (releases, history) and a cloud of two groups.
let server: TestRedis;
let redis: Redis;
let store: DeploymentStore;

const VERSION: Record<string, string> = { 'img-10': '1.0.0', 'img-11': '1.1.0', 'img-13': '1.3.0' };
const peers = {
  image: async (id: string) => ({ id, kind: 'service', service: 'search', version: VERSION[id] }),
} as unknown as Peers;
const group = (name: string, disabled: boolean, image: string): ServerGroup =>
  ({
    name,
    disabled,
    min: 1,
    desired: 2,
    max: 2,
    launchTemplate: name,
    targetGroups: ['search-prod'],
    tags: { image, commit: 'c'.repeat(40), deployment: `dep-${name.slice(-4)}00` },
    instances: [
      { id: 'i-1', lifecycle: 'running', address: '127.0.0.1:1', launchedAt: '' },
      { id: 'i-2', lifecycle: 'running', address: '127.0.0.1:2', launchedAt: '' },
    ],
    createdAt: '',
  }) as unknown as ServerGroup;
const cloud = {
  kind: 'local',
  listServerGroups: async () => [group('search-prod-v001', true, 'img-10'), group('search-prod-v002', false, 'img-13')],
} as unknown as CloudProvider;

beforeAll(async () => {
  server = await startRedis();
  redis = createRedis({ url: server.url });
  store = createRedisDeploymentStore({ redis, prefix: server.prefix() });
  await store.recordServed('search', 'prod', {
    deployment: 'dep-v00200',
    image: 'img-13',
    commit: 'c'.repeat(40),
    group: 'search-prod-v002',
    at: new Date().toISOString(),
  });
});

afterAll(async () => {
  await redis.quit();
  await server.stop();
});

const history = [
  {
    id: 'dep-bad0000001',
    env: 'prod',
    image: 'img-11',
    state: 'rolled-back',
    finishedAt: '2030-01-01T10:00:00Z',
    reason: 'health',
  },
] as Deployment[];

async function change(image: string, commit = 'c'.repeat(40), properties: Record<string, unknown> = {}) {
  return changeOf(
    { store, cloud, peers },
    { service: 'search', env: 'prod', image: (await peers.image(image))!, commit, instances: 2 },
    properties,
    history,
  );
}

describe('what a change would do', () => {
  it('goes from what serves (the newest group in service, its recorded release) to what is asked', async () => {
    const c = await change('img-10', 'd'.repeat(40), { production: 'prod' });
    expect(c).toMatchObject({
      from: { image: 'img-13', version: '1.3.0', group: 'search-prod-v002', deployment: 'dep-v00200', instances: 2 },
      to: { image: 'img-10', version: '1.0.0', commit: 'd'.repeat(40) },
      unchanged: false,
      downgrade: true,
      sameVersion: false,
      policy: { production: true, requireConfirmation: true },
    });
    expect((await change('img-13')).unchanged).toBe(true);
  });

  it('warns of a version that failed there before, and of a downgrade', async () => {
    const preview = previewOf('deploy', [await change('img-11')]);
    expect(preview.warnings).toEqual([
      'search prod: a downgrade, from img-13 (1.3.0) back to img-11 (1.1.0)',
      'img-11 (1.1.0) failed in search prod before: dep-bad0000001 rolled-back at 2030-01-01 10:00 (health)',
    ]);
    expect(preview.confirmation).toBe(`search prod img-13@cccccccccccc→img-11@cccccccccccc`);
  });

  it('skips, in a release, what runs already (unless forced), and in a promotion the same or a newer version', async () => {
    const same = await change('img-13');
    expect(skipReason(same, { promotion: false })).toBe(`already runs img-13 (1.3.0) with config cccccccccccc`);
    expect(skipReason(same, { promotion: false, force: true })).toBeUndefined();
    const older = await change('img-11', 'e'.repeat(40));
    expect(skipReason(older, { promotion: false })).toBeUndefined();
    expect(skipReason(older, { promotion: true })).toBe(
      'runs img-13 (1.3.0), newer: a promotion only moves forward (allow a downgrade to go back)',
    );
    expect(skipReason(older, { promotion: true, allowDowngrade: true })).toBeUndefined();
  });
});

describe('the environment’s rules, for every path', () => {
  const rules = (c: ClusterChange, policy: Partial<ClusterChange['policy']>): ClusterChange => ({
    ...c,
    policy: { ...c.policy, ...policy },
  });

  it('refuses production without a confirmation, or with one naming another from → to, in words', async () => {
    const preview = previewOf('deploy', [
      rules(await change('img-10'), { production: true, requireConfirmation: true }),
    ]);
    expect(() => enforcePolicy(preview, { by: 'alice' })).toThrow(
      /^search prod is production: a change there needs a confirmation naming what it changes \(search prod: img-13 \(1\.3\.0\) → img-10 \(1\.0\.0\), config cccccccccccc \(unchanged\), a downgrade\)/,
    );
    expect(() =>
      enforcePolicy(preview, { by: 'alice', confirm: 'search prod img-12@cccccccccccc→img-10@cccccccccccc' }),
    ).toThrow(ConflictError);
    expect(() => enforcePolicy(preview, { by: 'alice', confirm: preview.confirmation })).not.toThrow();
    // Anywhere, a confirmation that does not name this change is refused: the cluster changed since.
    const staging = previewOf('deploy', [await change('img-10')]);
    expect(() => enforcePolicy(staging, { by: 'alice' })).not.toThrow();
    expect(() => enforcePolicy(staging, { by: 'alice', confirm: 'stale' })).toThrow(/another change/);
  });

  it('holds a freeze for all but an undo, and lets only the approvers change it', async () => {
    const frozen = rules(await change('img-10'), { frozen: { until: '2030-01-02T00:00:00Z', reason: 'audit' } });
    expect(() => enforcePolicy(previewOf('deploy', [frozen]), { by: 'alice' })).toThrow(
      'search prod is frozen until 2030-01-02T00:00:00Z (audit): only an undo or a rollback changes it before then',
    );
    expect(() => enforcePolicy(previewOf('undo', [frozen]), { by: 'alice' })).not.toThrow();
    const guarded = rules(await change('img-10'), { approvers: ['bob'] });
    expect(() => enforcePolicy(previewOf('deploy', [guarded]), { by: 'alice' })).toThrow(NotAllowedError);
    expect(() => enforcePolicy(previewOf('deploy', [guarded]), { by: 'bob' })).not.toThrow();
  });

  it('holds a freeze and the approvers on every cluster a release names, skipped now or not', async () => {
    // The attack: a promotion to frozen prod, made by someone who is not an approver, waiting an
    // hour (afterSeconds); prod runs it now, so it is skipped now ("no change") and was let through.
    const skip = 'runs img-13 (1.3.0), the same version: a promotion only moves forward';
    const frozen = {
      ...rules(await change('img-13'), { frozen: { until: '2030-01-02T00:00:00Z', reason: 'audit' } }),
      skip,
    };
    expect(() => enforcePolicy(previewOf('promote', [frozen]), { by: 'alice' })).toThrow(
      'search prod is frozen until 2030-01-02T00:00:00Z (audit): only an undo or a rollback changes it before then',
    );
    const guarded = { ...rules(await change('img-13'), { approvers: ['bob'] }), skip };
    expect(() => enforcePolicy(previewOf('promote', [guarded]), { by: 'alice' })).toThrow(
      'search prod is changed only by bob; alice is not one of them',
    );
    expect(() => enforcePolicy(previewOf('promote', [guarded]), { by: 'bob' })).not.toThrow();
  });

  it('leaves what a release skips out of the confirmation', async () => {
    const skipped = { ...rules(await change('img-13'), { requireConfirmation: true }), skip: 'already runs it' };
    const preview = previewOf('release', [skipped, await change('img-10')]);
    expect(preview.confirmationRequired).toBe(false);
    expect(preview.confirmation).toBe('search prod img-13@cccccccccccc→img-10@cccccccccccc');
  });
});

describe('names: one resolver', () => {
  const named = (clusters: unknown, environments = ['prod', 'prod-a', 'prod-b', 'staging']) =>
    ({
      service: async (name: string) => ({ name, properties: { clusters } }),
      environments: async () => environments,
    }) as unknown as Peers;

  it('says a sync set and its clusters, a cluster, and refuses a set named like an environment, naming both', async () => {
    expect((await resolveName(named({ live: ['prod-a', 'prod-b'] }), 'search', 'live')).target).toEqual({
      kind: 'set',
      name: 'live',
      clusters: ['prod-a', 'prod-b'],
    });
    expect((await resolveName(named({ live: ['prod-a'] }), 'search', 'prod-a')).target).toEqual({
      kind: 'cluster',
      name: 'prod-a',
    });
    await expect(resolveName(named({ prod: ['prod-a', 'prod-b'] }), 'search', 'prod')).rejects.toThrow(
      new UnprocessableError(
        'prod is both a sync set of search (prod-a, prod-b) and an environment of it (the configuration search-prod): give the set another name',
      ),
    );
    await expect(resolveName({ service: async () => undefined } as unknown as Peers, 'nosuch', 'prod')).rejects.toThrow(
      /service nosuch is not registered/,
    );
    await expect(
      resolveName({ service: async () => undefined } as unknown as Peers, 'nosuch', 'prod'),
    ).rejects.toMatchObject({ code: 'service-not-registered', args: { service: 'nosuch' } });
    expect(notOneCluster('search', { kind: 'set', name: 'live', clusters: ['prod-a', 'prod-b'] })).toMatchObject({
      code: 'set-not-cluster',
      args: { service: 'search', set: 'live', clusters: 'prod-a, prod-b' },
    });
  });
});

describe('which version is newer', () => {
  it('compares semantic versions, else when each image was made', () => {
    expect(compareVersions({ version: '1.10.0' }, { version: '1.9.2' })).toBe(1);
    expect(compareVersions({ version: '2.0.0-rc.1' }, { version: '2.0.0' })).toBe(-1);
    expect(compareVersions({ version: '1.2.0' }, { version: '1.2.0' })).toBe(0);
    expect(
      compareVersions({ version: 'blue', createdAt: '2030-01-01' }, { version: 'green', createdAt: '2030-02-01' }),
    ).toBe(-1);
    expect(compareVersions({ version: 'blue' }, { version: 'green' })).toBeUndefined();
  });
});
