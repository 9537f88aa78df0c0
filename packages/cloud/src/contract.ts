/**
 * One contract, every provider: the same sequence of calls must give the same observable
 * results on `local` (the engine in-process and the daemon over HTTP) and `aws` (against moto,
 * a third-party AWS emulator). A provider's test calls describeCloudContract with a way to make
 * the provider and a way to wait. It asserts what AWS guarantees: addresses are `host:port`, a
 * group created out of service has no target registered until enabled, every destroy is safe
 * to repeat, what AWS would refuse is refused before anything is created, and the traffic its
 * load balancer sent a group is counted for that group.
 */
import { expect, it } from '@jest/globals';
import type { CloudProvider, LoadBalancerSpec, ServerGroup, TargetHealth } from './provider.js';

export interface ContractSetup {
  provider(): CloudProvider;
  imageId: string;
  loadBalancer: LoadBalancerSpec;
  /** A security group and an instance profile a launch template may name (ids on AWS). */
  securityGroup: string;
  instanceProfile: string;
  /**
   * Sends `requests` requests through the load balancer, each answered 200 by `group`: real
   * requests on the local cloud; on moto, which runs no load balancer, the metric data
   * CloudWatch would hold for them.
   */
  sendTraffic(loadBalancer: LoadBalancerSpec, group: string, requests: number): Promise<void>;
  /** Waits until `check` passes (polling for real, or advancing a mocked cloud). */
  eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T>;
}

export function describeCloudContract(setup: () => ContractSetup): void {
  it('creates, serves, disables, enables, resizes and destroys a server group', async () => {
    const { provider: make, imageId, loadBalancer, eventually, securityGroup, instanceProfile } = setup();
    const cloud = make();
    const tg = loadBalancer.targetGroup.name;
    const template = {
      name: 'search-prod-v001',
      imageId,
      instanceType: 't3.small',
      userData: { files: { 'application.properties': "greeting='hello'\n" }, commands: ['echo ready > ready.txt'] },
      securityGroups: [securityGroup],
      instanceProfile,
    };
    const created = await cloud.createLaunchTemplate(template);
    expect(await cloud.createLaunchTemplate(template)).toEqual(created); // idempotent
    await expect(cloud.createLaunchTemplate({ ...template, instanceProfile: 'another' })).rejects.toThrow(
      /another spec/,
    );
    expect(await cloud.getLaunchTemplate(template.name)).toMatchObject({
      imageId,
      userData: template.userData,
      securityGroups: [securityGroup],
      instanceProfile,
    });
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
    for (const instance of running!.instances) expect(instance.address).toMatch(/^[^:]+:\d+$/);
    expect((await cloud.listServerGroups('search-prod')).map((g) => g.name)).toEqual(['search-prod-v001']);
    const ids = running!.instances.map((i) => i.id).sort();
    expect(await cloud.imagesInUse()).toEqual([imageId]);

    await eventually(
      () => cloud.describeTargetHealth(tg),
      (h) => states(h, ids, 'healthy'),
      'both targets healthy',
    );
    // The whole cloud in one listing: the group with its cluster, and its target group's health.
    const listing = await cloud.describeClusters();
    expect(listing.groups.filter((g) => g.cluster === 'search-prod').map((g) => g.name)).toEqual(['search-prod-v001']);
    expect(states(listing.targetHealth[tg] ?? [], ids, 'healthy')).toBe(true);
    // The groups alone (a reader needing no health, the retention sweep): the same groups.
    const groupsAlone = await cloud.describeClusters({ health: false });
    expect(groupsAlone.groups.filter((g) => g.cluster === 'search-prod').map((g) => g.name)).toEqual([
      'search-prod-v001',
    ]);

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
    expect(await cloud.getLaunchTemplate(template.name)).toBeUndefined(); // goes with its group
    await cloud.destroyServerGroup(spec.name); // idempotent
    await cloud.deleteLaunchTemplate(template.name);
    await cloud.deleteLoadBalancer(loadBalancer.name);
    await cloud.deleteLoadBalancer(loadBalancer.name);
    expect(await cloud.imagesInUse()).toEqual([]);
    await cloud.deregisterImage(imageId);
    await cloud.deregisterImage(imageId); // gone already: fine
    expect(await cloud.getImage(imageId)).toBeUndefined();
  });

  it('registers no target of a group created out of service until it is enabled', async () => {
    const { provider: make, imageId, loadBalancer, eventually } = setup();
    const cloud = make();
    const tg = loadBalancer.targetGroup.name;
    await cloud.createLoadBalancer(loadBalancer);
    await cloud.createLaunchTemplate({
      name: 'search-prod-v002',
      imageId,
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    const spec = { name: 'search-prod-v002', launchTemplate: 'search-prod-v002', min: 1, desired: 1, max: 2 };
    const created = await cloud.createServerGroup({ ...spec, targetGroups: [tg], disabled: true });
    expect(created).toMatchObject({ disabled: true, targetGroups: [tg] });
    const group = await eventually(
      () => cloud.getServerGroup(spec.name),
      (g) => g?.instances.some((i) => i.lifecycle === 'running') === true,
      'a running instance',
    );
    expect(await cloud.describeTargetHealth(tg)).toEqual([]);
    await cloud.enableServerGroup(spec.name);
    expect((await cloud.getServerGroup(spec.name))?.disabled).toBe(false);
    await eventually(
      () => cloud.describeTargetHealth(tg),
      (h) => states(h, [group!.instances[0]!.id], 'healthy'),
      'the target healthy once enabled',
    );
    await cloud.destroyServerGroup(spec.name);
    await cloud.deleteLoadBalancer(loadBalancer.name);
  });

  it('refuses what AWS refuses, before creating anything', async () => {
    const { provider: make, loadBalancer } = setup();
    const cloud = make();
    const check = loadBalancer.targetGroup.healthCheck;
    await expect(
      cloud.createLoadBalancer({
        ...loadBalancer,
        targetGroup: { ...loadBalancer.targetGroup, healthCheck: { ...check, intervalSeconds: 1, timeoutSeconds: 1 } },
      }),
    ).rejects.toThrow(/intervalSeconds must be 5–300/);
    await expect(
      cloud.createLoadBalancer({ ...loadBalancer, targetGroup: { ...loadBalancer.targetGroup, name: 'x'.repeat(33) } }),
    ).rejects.toThrow(/at most 32|0,31/); // the daemon's API schema says it first
    expect(await cloud.getLoadBalancer(loadBalancer.name)).toBeUndefined();
    const big = 'x'.repeat(13_000);
    await expect(
      cloud.createLaunchTemplate({
        name: 'search-prod-v003',
        imageId: 'img-none',
        instanceType: 't3.small',
        userData: { files: { 'application.properties': big }, commands: [] },
      }),
    ).rejects.toThrow(/16 KB/);
  });

  it('modifies a load balancer in place: health check, draining, security groups', async () => {
    const { provider: make, loadBalancer, securityGroup } = setup();
    const cloud = make();
    await cloud.createLoadBalancer(loadBalancer);
    const changed: LoadBalancerSpec = {
      ...loadBalancer,
      securityGroups: [securityGroup],
      targetGroup: {
        ...loadBalancer.targetGroup,
        healthCheck: { ...loadBalancer.targetGroup.healthCheck, path: '/ready', healthyThreshold: 3 },
        deregistrationDelaySeconds: 7,
      },
    };
    await cloud.modifyLoadBalancer(changed);
    const now = await cloud.getLoadBalancer(loadBalancer.name);
    expect(now?.targetGroup).toEqual(changed.targetGroup);
    expect(now?.securityGroups).toEqual([securityGroup]);
    expect(now?.port).toBe(loadBalancer.port);
    expect((await cloud.listLoadBalancers()).map((lb) => lb.name)).toEqual([loadBalancer.name]);
    await expect(
      cloud.modifyLoadBalancer({ ...changed, targetGroup: { ...changed.targetGroup, name: 'renamed' } }),
    ).rejects.toThrow(/cannot be renamed/);
    await cloud.deleteLoadBalancer(loadBalancer.name);
  });

  it("counts what its load balancer sent a group: requests, answers by class, a group's own", async () => {
    const { provider: make, imageId, loadBalancer, eventually, sendTraffic } = setup();
    const cloud = make();
    const tg = loadBalancer.targetGroup.name;
    await cloud.createLoadBalancer(loadBalancer);
    const name = 'search-prod-v004';
    await cloud.createLaunchTemplate({
      name,
      imageId,
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await cloud.createServerGroup({ name, launchTemplate: name, min: 1, desired: 1, max: 1, targetGroups: [tg] });
    const group = await eventually(
      () => cloud.getServerGroup(name),
      (g) => g?.instances.some((i) => i.lifecycle === 'running' && i.address) === true,
      'a running instance',
    );
    await eventually(
      () => cloud.describeTargetHealth(tg),
      (h) => states(h, [group!.instances[0]!.id], 'healthy'),
      'the target healthy',
    );
    const since = new Date();
    await sendTraffic(loadBalancer, name, 12);
    const [seen, other] = await eventually(
      () => cloud.trafficOf(tg, [name, 'search-prod-v005'], since),
      ([t]) => t!.requests >= 12,
      '12 requests counted',
    );
    expect(seen).toMatchObject({
      group: name,
      requests: 12,
      responses: { '2xx': 12, '3xx': 0, '4xx': 0, '5xx': 0 },
      connectionErrors: 0,
      timeouts: 0,
      attributed: true,
    });
    // moto keeps no percentiles (see aws/traffic.test.ts): where they are, they are in order.
    if (seen!.latency) expect(seen!.latency.p99Ms).toBeGreaterThanOrEqual(seen!.latency.p50Ms);
    expect(Date.parse(seen!.since)).toBeLessThanOrEqual(since.getTime());
    expect(other).toMatchObject({ group: 'search-prod-v005', requests: 0, responses: { '5xx': 0 } });
    await expect(cloud.trafficOf('nothere', [name], since)).rejects.toThrow(/no target group nothere/);
    await cloud.destroyServerGroup(name);
    await cloud.deleteLoadBalancer(loadBalancer.name);
  });
}

function running2(group: ServerGroup | undefined): boolean {
  return group?.instances.filter((i) => i.lifecycle === 'running' && i.address).length === 2;
}

function states(health: TargetHealth[], ids: string[], state: TargetHealth['state']): boolean {
  return ids.every((id) => health.find((t) => t.instanceId === id)?.state === state);
}
