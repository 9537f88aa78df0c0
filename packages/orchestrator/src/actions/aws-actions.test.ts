/**
 * What the actions ask of the cloud that AWS needs exactly: the grace period a new group's
 * instances get (deployment-params' gracePeriodSeconds), and a drain that ends when the old
 * targets left `draining` — which moto never shows (a deregistered target is gone at once), so
 * it is shown here with a cloud that drains as AWS does.
 */
import { describe, expect, it } from '@jest/globals';
import type { CloudProvider, ServerGroupSpec, TargetHealth } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { ACTIONS, type ActionContext } from './actions.js';
import { resolveParams, type Deployment } from '../deployments/deployment.js';

const params = resolveParams(
  {
    capacity: { desired: 2 },
    healthCheck: { path: '/healthcheck', gracePeriodSeconds: 150 },
    loadBalancer: { name: 'search-prod' },
    strategy: { drainSeconds: 30 },
  },
  {},
  undefined,
);

function context(cloud: Partial<CloudProvider>, extra: Partial<Deployment['context']> = {}): ActionContext {
  const deployment = {
    id: 'dep-1',
    service: 'search',
    env: 'prod',
    image: 'ami-1',
    strategy: 'red-black',
    context: {
      params,
      group: 'search-prod-v002',
      targetGroup: 'search-prod',
      commit: 'c'.repeat(40),
      ...extra,
    },
  } as unknown as Deployment;
  return {
    deployment,
    deps: {
      cloud: cloud as CloudProvider,
      peers: {} as never,
      store: {} as never,
      logger: createLogger({ name: 't', level: 'silent' }),
      pollMs: 5,
    },
    progress: async () => undefined,
    save: async () => undefined,
    control: async () => ({}) as never,
    checkpoint: () => undefined,
    irrevocable: async () => undefined,
  };
}

describe('create-server-group', () => {
  it("gives the new group deployment-params' grace period", async () => {
    const asked: ServerGroupSpec[] = [];
    const cloud = {
      getServerGroup: async () => undefined,
      createServerGroup: async (spec: ServerGroupSpec) => {
        asked.push(spec);
        return {} as never;
      },
    };
    await ACTIONS.get('create-server-group')!.run(context(cloud));
    expect(asked[0]).toMatchObject({ name: 'search-prod-v002', healthCheckGracePeriodSeconds: 150, disabled: true });
  });
});

describe('wait-for-drain', () => {
  const old = {
    name: 'search-prod-v001',
    instances: [{ id: 'i-old', lifecycle: 'running' }],
    disabled: true,
  };
  const fresh = { name: 'search-prod-v002', instances: [{ id: 'i-new', lifecycle: 'running' }], disabled: false };

  it('ends once the old targets left draining, not after a fixed time', async () => {
    let polls = 0;
    const cloud = {
      getServerGroup: async (name: string) => (name === old.name ? old : fresh) as never,
      listServerGroups: async () => [old, fresh] as never,
      describeTargetHealth: async (): Promise<TargetHealth[]> => [
        { instanceId: 'i-new', state: 'healthy' },
        ...(++polls < 4 ? [{ instanceId: 'i-old', state: 'draining' as const }] : []),
      ],
    };
    const started = Date.now();
    const said = await ACTIONS.get('wait-for-drain')!.run(context(cloud, { previous: old.name }));
    expect(said).toMatch(/^the old targets left the load balancer/);
    expect(polls).toBe(4);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('goes on after drainSeconds at most, saying what was still draining', async () => {
    const cloud = {
      getServerGroup: async (name: string) => (name === old.name ? old : fresh) as never,
      listServerGroups: async () => [old, fresh] as never,
      describeTargetHealth: async (): Promise<TargetHealth[]> => [{ instanceId: 'i-old', state: 'draining' }],
    };
    const ctx = context(cloud, { previous: old.name, waits: { drain: Date.now() + 50 } });
    expect(await ACTIONS.get('wait-for-drain')!.run(ctx)).toBe('1 old target(s) still draining after 30 s: going on');
  });
});
