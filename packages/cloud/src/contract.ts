/**
 * One contract, every provider: the same sequence of calls must give the same observable
 * results on `local` (for real) and `aws` (SDK mocked). A provider's test calls
 * describeCloudContract with a way to make the provider and a way to let time pass.
 */
import { expect, it } from '@jest/globals';
import type { CloudProvider, LoadBalancerSpec, ServerGroup, TargetHealth } from './provider.js';

export interface ContractSetup {
  provider(): CloudProvider;
  imageId: string;
  loadBalancer: LoadBalancerSpec;
  /** Waits until `check` passes (polling for real, or advancing a mocked cloud). */
  eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T>;
}

export function describeCloudContract(setup: () => ContractSetup): void {
  it('creates, serves, disables, enables, resizes and destroys a server group', async () => {
    const { provider: make, imageId, loadBalancer, eventually } = setup();
    const cloud = make();
    const tg = loadBalancer.targetGroup.name;
    const template = {
      name: 'search-prod-v001',
      imageId,
      instanceType: 't3.small',
      userData: { files: { 'application.properties': 'greeting=hello\n' }, commands: ['echo ready > ready.txt'] },
    };
    const created = await cloud.createLaunchTemplate(template);
    expect(await cloud.createLaunchTemplate(template)).toEqual(created); // idempotent
    await cloud.createLoadBalancer(loadBalancer);
    expect((await cloud.getLoadBalancer(loadBalancer.name))?.targetGroup.name).toBe(tg);

    const spec = {
      name: 'search-prod-v001',
      launchTemplate: template.name,
      min: 1,
      desired: 2,
      max: 4,
      targetGroups: [tg],
    };
    await cloud.createServerGroup(spec);
    await cloud.createServerGroup(spec); // idempotent
    await expect(cloud.createServerGroup({ ...spec, desired: 3 })).rejects.toThrow(/another spec/);

    const running = await eventually(
      () => cloud.getServerGroup(spec.name),
      (g) => running2(g),
      'two running instances',
    );
    expect(running?.cluster).toBe('search-prod');
    expect((await cloud.listServerGroups('search-prod')).map((g) => g.name)).toEqual(['search-prod-v001']);
    const ids = running!.instances.map((i) => i.id).sort();
    expect(await cloud.imagesInUse()).toEqual([imageId]);

    await eventually(
      () => cloud.describeTargetHealth(tg),
      (h) => states(h, ids, 'healthy'),
      'both targets healthy',
    );

    await cloud.disableServerGroup(spec.name);
    expect((await cloud.getServerGroup(spec.name))?.disabled).toBe(true);
    await eventually(
      () => cloud.describeTargetHealth(tg),
      (h) => h.every((t) => t.state === 'draining') || h.length === 0,
      'targets draining or gone',
    );
    expect((await cloud.getServerGroup(spec.name))?.instances).toHaveLength(2); // kept warm

    await cloud.enableServerGroup(spec.name);
    await eventually(
      () => cloud.describeTargetHealth(tg),
      (h) => states(h, ids, 'healthy'),
      'healthy again',
    );

    await cloud.resizeServerGroup(spec.name, { min: 1, desired: 3, max: 4 });
    await eventually(
      () => cloud.getServerGroup(spec.name),
      (g) => g?.instances.filter((i) => i.lifecycle === 'running').length === 3,
      'three running instances',
    );

    await cloud.destroyServerGroup(spec.name);
    expect(await cloud.getServerGroup(spec.name)).toBeUndefined();
    await cloud.destroyServerGroup(spec.name); // idempotent
    await cloud.deleteLaunchTemplate(template.name);
  });

  it('modifies a load balancer in place: health check, draining, security groups', async () => {
    const { provider: make, loadBalancer } = setup();
    const cloud = make();
    await cloud.createLoadBalancer(loadBalancer);
    const changed: LoadBalancerSpec = {
      ...loadBalancer,
      securityGroups: ['sg-0a1b2c3d'],
      targetGroup: {
        ...loadBalancer.targetGroup,
        healthCheck: { ...loadBalancer.targetGroup.healthCheck, path: '/ready', healthyThreshold: 3 },
        deregistrationDelaySeconds: 7,
      },
    };
    await cloud.modifyLoadBalancer(changed);
    const now = await cloud.getLoadBalancer(loadBalancer.name);
    expect(now?.targetGroup).toEqual(changed.targetGroup);
    expect(now?.securityGroups).toEqual(['sg-0a1b2c3d']);
    expect(now?.port).toBe(loadBalancer.port);
    await expect(
      cloud.modifyLoadBalancer({ ...changed, targetGroup: { ...changed.targetGroup, name: 'renamed' } }),
    ).rejects.toThrow(/cannot be renamed/);
    await cloud.deleteLoadBalancer(loadBalancer.name);
  });
}

function running2(group: ServerGroup | undefined): boolean {
  return group?.instances.filter((i) => i.lifecycle === 'running' && i.address).length === 2;
}

function states(health: TargetHealth[], ids: string[], state: TargetHealth['state']): boolean {
  return ids.every((id) => health.find((t) => t.instanceId === id)?.state === state);
}
