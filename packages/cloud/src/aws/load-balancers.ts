/**
 * The aws provider's load balancers: an application load balancer with one HTTP listener
 * forwarding to one target group. The target group sends to the instances' own port (the port
 * the service image starts the service on), not the listener's.
 */
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeleteLoadBalancerCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  paginateDescribeLoadBalancers,
  RegisterTargetsCommand,
  SetSecurityGroupsCommand,
  type LoadBalancer as ElbLoadBalancer,
  type TargetGroup as ElbTargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { InputError, NotFoundError } from '@slipway/core';
import { isDeepStrictEqual } from 'node:util';
import { checkLoadBalancerSpec } from '../bounds.js';
import type { CloudProvider, LoadBalancer, LoadBalancerSpec, TargetHealth, TargetHealthState } from '../provider.js';
import { errorName, orNothing, retryEventually, type Sleep } from './retry.js';

export interface LoadBalancerOptions {
  elb: ElasticLoadBalancingV2Client;
  vpcId: string;
  subnets: string[];
  instancePort: number;
  sleep: Sleep;
}

type LoadBalancerMethods = Pick<
  CloudProvider,
  | 'createLoadBalancer'
  | 'modifyLoadBalancer'
  | 'getLoadBalancer'
  | 'listLoadBalancers'
  | 'deleteLoadBalancer'
  | 'registerTargets'
  | 'deregisterTargets'
  | 'describeTargetHealth'
>;

export function awsLoadBalancers({ elb, vpcId, subnets, instancePort, sleep }: LoadBalancerOptions) {
  async function targetGroupByName(name: string): Promise<ElbTargetGroup | undefined> {
    const answer = await orNothing(() => elb.send(new DescribeTargetGroupsCommand({ Names: [name] })));
    return answer?.TargetGroups?.[0];
  }

  async function targetGroupArn(name: string): Promise<string> {
    // Right after infra created it, a describe may not find it yet.
    const group = await retryEventually(
      async () => {
        const found = await targetGroupByName(name);
        if (!found?.TargetGroupArn) throw new NotFoundError(`no target group ${name}`);
        return found;
      },
      { sleep, attempts: 3 },
    );
    return group.TargetGroupArn!;
  }

  async function targetGroupNames(arns: string[]): Promise<Map<string, string>> {
    if (arns.length === 0) return new Map();
    const answer = await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: arns }));
    return new Map((answer.TargetGroups ?? []).map((tg) => [tg.TargetGroupArn!, tg.TargetGroupName!]));
  }

  /** Ours: an application load balancer with a target group; anything else in the account is left alone. */
  async function toLoadBalancer(lb: ElbLoadBalancer): Promise<LoadBalancer | undefined> {
    if (lb.Type && lb.Type !== 'application') return undefined;
    const arn = lb.LoadBalancerArn!;
    const [listeners, groups] = await Promise.all([
      elb.send(new DescribeListenersCommand({ LoadBalancerArn: arn })),
      elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: arn })),
    ]);
    const tg = groups.TargetGroups?.[0];
    if (!tg) return undefined;
    const attributes = await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn }));
    const delay = attributes.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
    return {
      name: lb.LoadBalancerName!,
      port: listeners.Listeners?.[0]?.Port ?? 80,
      protocol: 'http',
      address: lb.DNSName ?? '',
      createdAt: lb.CreatedTime?.toISOString() ?? '',
      securityGroups: lb.SecurityGroups ?? [],
      targetGroup: {
        name: tg.TargetGroupName!,
        healthCheck: {
          path: tg.HealthCheckPath ?? '/',
          intervalSeconds: tg.HealthCheckIntervalSeconds ?? 30,
          timeoutSeconds: tg.HealthCheckTimeoutSeconds ?? 5,
          healthyThreshold: tg.HealthyThresholdCount ?? 5,
          unhealthyThreshold: tg.UnhealthyThresholdCount ?? 2,
        },
        deregistrationDelaySeconds: Number(delay ?? 300),
      },
    };
  }

  async function setDeregistrationDelay(arn: string, seconds: number): Promise<void> {
    await elb.send(
      new ModifyTargetGroupAttributesCommand({
        TargetGroupArn: arn,
        Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(seconds) }],
      }),
    );
  }

  async function loadBalancerByName(name: string): Promise<ElbLoadBalancer | undefined> {
    const answer = await orNothing(() => elb.send(new DescribeLoadBalancersCommand({ Names: [name] })));
    return answer?.LoadBalancers?.[0];
  }

  const methods: LoadBalancerMethods = {
    async createLoadBalancer(spec: LoadBalancerSpec) {
      checkLoadBalancerSpec(spec);
      const check = spec.targetGroup.healthCheck;
      const tags = tagList({ ...spec.tags, Name: spec.name });
      // ELBv2 answers an identical create with the existing resource, so these are idempotent.
      const tg = await elb.send(
        new CreateTargetGroupCommand({
          Name: spec.targetGroup.name,
          Protocol: 'HTTP',
          Port: instancePort,
          VpcId: vpcId,
          TargetType: 'instance',
          HealthCheckProtocol: 'HTTP',
          HealthCheckPort: 'traffic-port',
          HealthCheckPath: check.path,
          HealthCheckIntervalSeconds: check.intervalSeconds,
          HealthCheckTimeoutSeconds: check.timeoutSeconds,
          HealthyThresholdCount: check.healthyThreshold,
          UnhealthyThresholdCount: check.unhealthyThreshold,
          Tags: tags,
        }),
      );
      const arn = tg.TargetGroups![0]!.TargetGroupArn!;
      await retryEventually(() => setDeregistrationDelay(arn, spec.targetGroup.deregistrationDelaySeconds), { sleep });
      const lb = await elb.send(
        new CreateLoadBalancerCommand({
          Name: spec.name,
          Type: 'application',
          Scheme: 'internet-facing',
          Subnets: subnets,
          ...(spec.securityGroups?.length ? { SecurityGroups: spec.securityGroups } : {}),
          Tags: tags,
        }),
      );
      const created = lb.LoadBalancers![0]!;
      const listeners = await retryEventually(
        () => elb.send(new DescribeListenersCommand({ LoadBalancerArn: created.LoadBalancerArn })),
        { sleep },
      );
      if (!listeners.Listeners?.some((l) => l.Port === spec.port)) {
        await elb.send(
          new CreateListenerCommand({
            LoadBalancerArn: created.LoadBalancerArn,
            Protocol: 'HTTP',
            Port: spec.port,
            DefaultActions: [{ Type: 'forward', TargetGroupArn: arn }],
          }),
        );
      }
      return {
        ...spec,
        address: created.DNSName ?? '',
        createdAt: created.CreatedTime?.toISOString() ?? new Date().toISOString(),
      };
    },

    async modifyLoadBalancer(spec: LoadBalancerSpec) {
      checkLoadBalancerSpec(spec);
      const lb = await loadBalancerByName(spec.name);
      const current = lb && (await toLoadBalancer(lb));
      if (!lb || !current) throw new NotFoundError(`no load balancer ${spec.name}`);
      if (current.targetGroup.name !== spec.targetGroup.name)
        throw new InputError(
          `load balancer ${spec.name} has target group ${current.targetGroup.name}; a target group cannot be renamed in place`,
        );
      const arn = await targetGroupArn(spec.targetGroup.name);
      const check = spec.targetGroup.healthCheck;
      // Only what differs is sent: each of these calls is a change someone reviews in CloudTrail.
      if (!isDeepStrictEqual(current.targetGroup.healthCheck, check)) {
        await elb.send(
          new ModifyTargetGroupCommand({
            TargetGroupArn: arn,
            HealthCheckPath: check.path,
            HealthCheckIntervalSeconds: check.intervalSeconds,
            HealthCheckTimeoutSeconds: check.timeoutSeconds,
            HealthyThresholdCount: check.healthyThreshold,
            UnhealthyThresholdCount: check.unhealthyThreshold,
          }),
        );
      }
      if (current.targetGroup.deregistrationDelaySeconds !== spec.targetGroup.deregistrationDelaySeconds) {
        await setDeregistrationDelay(arn, spec.targetGroup.deregistrationDelaySeconds);
      }
      if (current.port !== spec.port) {
        const listeners = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }));
        const listener = listeners.Listeners?.find((l) => l.Port === current.port);
        await elb.send(new ModifyListenerCommand({ ListenerArn: listener?.ListenerArn, Port: spec.port }));
      }
      const groups = [...(spec.securityGroups ?? [])].sort();
      if (!isDeepStrictEqual([...(current.securityGroups ?? [])].sort(), groups)) {
        await elb.send(new SetSecurityGroupsCommand({ LoadBalancerArn: lb.LoadBalancerArn, SecurityGroups: groups }));
      }
      return { ...spec, address: current.address, createdAt: current.createdAt };
    },

    async getLoadBalancer(name) {
      const lb = await loadBalancerByName(name);
      return lb ? toLoadBalancer(lb) : undefined;
    },

    async listLoadBalancers() {
      const all: ElbLoadBalancer[] = [];
      for await (const page of paginateDescribeLoadBalancers({ client: elb }, {}))
        all.push(...(page.LoadBalancers ?? []));
      const ours = await Promise.all(all.map(toLoadBalancer));
      return ours.filter((lb): lb is LoadBalancer => lb !== undefined);
    },

    async deleteLoadBalancer(name) {
      const lb = await loadBalancerByName(name);
      const groups = lb
        ? ((await elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).TargetGroups ??
          [])
        : [];
      if (lb) await orNothing(() => elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb.LoadBalancerArn })));
      // A crash between the two deletes leaves a target group of the same name: it goes on the rerun.
      const left = groups.length ? groups : [await targetGroupByName(name)].filter((tg) => tg !== undefined);
      for (const tg of left) {
        // A target group stays "in use" for a moment after its load balancer goes.
        await retryEventually(
          () => orNothing(() => elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg.TargetGroupArn }))),
          { sleep, retryOn: (error) => /ResourceInUse/.test(errorName(error)) },
        );
      }
    },

    async registerTargets(targetGroup, instanceIds) {
      if (instanceIds.length === 0) return;
      const arn = await targetGroupArn(targetGroup);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: instanceIds.map((Id) => ({ Id })) }));
    },

    async deregisterTargets(targetGroup, instanceIds) {
      if (instanceIds.length === 0) return;
      const arn = await targetGroupArn(targetGroup);
      await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: instanceIds.map((Id) => ({ Id })) }));
    },

    async describeTargetHealth(targetGroup) {
      const arn = await targetGroupArn(targetGroup);
      const answer = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
      return (answer.TargetHealthDescriptions ?? []).map((d): TargetHealth => ({
        instanceId: d.Target?.Id ?? '',
        state: healthOf(d.TargetHealth?.State),
        ...(d.TargetHealth?.Description ? { reason: d.TargetHealth.Description } : {}),
      }));
    },
  };
  return { methods, targetGroupArn, targetGroupNames };
}

export function tagList(tags: Record<string, string | undefined>): Array<{ Key: string; Value: string }> {
  return Object.entries(tags)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([Key, Value]) => ({ Key, Value }));
}

function healthOf(state: string | undefined): TargetHealthState {
  switch (state) {
    case 'initial':
    case 'healthy':
    case 'unhealthy':
    case 'draining':
    case 'unused':
      return state;
    default:
      return 'unhealthy'; // unavailable, unhealthy.draining
  }
}
