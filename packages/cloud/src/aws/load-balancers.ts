/**
 * The aws provider's load balancers: an application load balancer, internet-facing or internal,
 * in its own subnets (public ones, say, in front of private instances), with one HTTP listener
 * forwarding to one target group — or, given an ACM certificate, an HTTPS listener forwarding
 * and the HTTP one redirecting to it. The target group sends to the instances' own port (the
 * port the service image starts the service on), not the listener's.
 *
 * A target group's ARN never changes while it exists (its name is in it): each is looked up
 * once and kept, so that what deployments poll costs one DescribeTargetHealth, not two calls.
 */
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeleteListenerCommand,
  DeleteLoadBalancerCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
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
  type Action as ElbAction,
  type Listener,
  type LoadBalancer as ElbLoadBalancer,
  type TargetGroup as ElbTargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { InputError, NotFoundError } from '@slipway/core';
import { isDeepStrictEqual } from 'node:util';
import { checkLoadBalancerSpec } from '../bounds.js';
import type { CloudProvider, LoadBalancer, LoadBalancerSpec, TargetHealth, TargetHealthState } from '../provider.js';
import { errorName, isNotFound, orNothing, retryEventually, type Sleep } from './retry.js';
import { SPLIT_TAG } from './traffic-split.js';

/** DescribeTags takes at most 20 resources. */
const TAGS_PER_CALL = 20;

/** AWS's recommended TLS policy for an HTTPS listener: TLS 1.3 and 1.2 only. */
export const TLS_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';
const HTTPS_PORT = 443;

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
  const arns = new Map<string, string>();

  async function targetGroupByName(name: string): Promise<ElbTargetGroup | undefined> {
    const answer = await orNothing(() => elb.send(new DescribeTargetGroupsCommand({ Names: [name] })));
    const found = answer?.TargetGroups?.[0];
    if (found?.TargetGroupArn) arns.set(name, found.TargetGroupArn);
    return found;
  }

  async function targetGroupArn(name: string): Promise<string> {
    const known = arns.get(name);
    if (known) return known;
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

  /** The ARN if the target group exists, without waiting for one just made. */
  async function cachedTargetGroupArn(name: string): Promise<string | undefined> {
    return arns.get(name) ?? (await targetGroupByName(name))?.TargetGroupArn;
  }

  /** Calls `use` with the target group's ARN; once more with a fresh one if the kept ARN's group was replaced. */
  async function withArn<T>(name: string, use: (arn: string) => Promise<T>): Promise<T> {
    const arn = await targetGroupArn(name);
    try {
      return await use(arn);
    } catch (error) {
      if (!isNotFound(error) || !/TargetGroupNotFound/.test(errorName(error))) throw error;
      arns.delete(name);
      return use(await targetGroupArn(name));
    }
  }

  /** Whether a listener's action is the one wanted: its type, and where a redirect sends (the HTTPS port moves). */
  function sameAction(current: ElbAction | undefined, wanted: ElbAction): boolean {
    if (current?.Type !== wanted.Type) return false;
    if (wanted.Type !== 'redirect') return true;
    const [a, b] = [current?.RedirectConfig, wanted.RedirectConfig];
    return a?.Protocol === b?.Protocol && a?.Port === b?.Port;
  }

  /** The HTTP listener forwards, or redirects to the HTTPS one that forwards, with the spec's certificate. */
  async function ensureListeners(lbArn: string, tgArn: string, spec: LoadBalancerSpec, listeners: Listener[]) {
    const forward: ElbAction[] = [{ Type: 'forward', TargetGroupArn: tgArn }];
    const httpsPort = spec.httpsPort ?? HTTPS_PORT;
    const https = listeners.find((l) => l.Protocol === 'HTTPS');
    const http = listeners.find((l) => l.Protocol === 'HTTP');
    if (spec.certificateArn) {
      const Certificates = [{ CertificateArn: spec.certificateArn }];
      if (!https) {
        await elb.send(
          new CreateListenerCommand({
            LoadBalancerArn: lbArn,
            Protocol: 'HTTPS',
            Port: httpsPort,
            SslPolicy: TLS_POLICY,
            Certificates,
            DefaultActions: forward,
          }),
        );
      } else if (https.Port !== httpsPort || https.Certificates?.[0]?.CertificateArn !== spec.certificateArn) {
        await elb.send(new ModifyListenerCommand({ ListenerArn: https.ListenerArn, Port: httpsPort, Certificates }));
      }
    } else if (https) {
      await elb.send(new DeleteListenerCommand({ ListenerArn: https.ListenerArn }));
    }
    const actions: ElbAction[] = spec.certificateArn
      ? [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: String(httpsPort), StatusCode: 'HTTP_301' } }]
      : forward;
    if (!http) {
      await elb.send(
        new CreateListenerCommand({
          LoadBalancerArn: lbArn,
          Protocol: 'HTTP',
          Port: spec.port,
          DefaultActions: actions,
        }),
      );
    } else if (http.Port !== spec.port || !sameAction(http.DefaultActions?.[0], actions[0]!)) {
      await elb.send(
        new ModifyListenerCommand({ ListenerArn: http.ListenerArn, Port: spec.port, DefaultActions: actions }),
      );
    }
  }

  /**
   * The load balancer's own target group: what its listeners forward to by default (a user's rules
   * may send paths to target groups of their own, up to ELBv2's 100 a load balancer), less a
   * burn-in's split (traffic-split.ts) beside it. Tags are asked 20 at a time (DescribeTags' limit).
   */
  async function clusterTargetGroupOf(groups: ElbTargetGroup[], listeners: Listener[]) {
    if (groups.length <= 1) return groups[0];
    const byDefault = new Set(
      listeners.flatMap((l) =>
        (l.DefaultActions ?? []).flatMap((a) => [
          a.TargetGroupArn,
          ...(a.ForwardConfig?.TargetGroups ?? []).map((t) => t.TargetGroupArn),
        ]),
      ),
    );
    const forwarded = groups.filter((g) => byDefault.has(g.TargetGroupArn));
    const candidates = forwarded.length ? forwarded : groups;
    const splits = new Set<string | undefined>();
    for (let i = 0; i < candidates.length; i += TAGS_PER_CALL) {
      const arns = candidates.slice(i, i + TAGS_PER_CALL).map((g) => g.TargetGroupArn!);
      const answer = await elb.send(new DescribeTagsCommand({ ResourceArns: arns }));
      for (const d of answer.TagDescriptions ?? [])
        if (d.Tags?.some((t) => t.Key === SPLIT_TAG)) splits.add(d.ResourceArn);
    }
    return candidates.find((g) => !splits.has(g.TargetGroupArn)) ?? candidates[0];
  }

  /** Ours: an application load balancer with a target group; anything else in the account is left alone. */
  async function toLoadBalancer(lb: ElbLoadBalancer): Promise<LoadBalancer | undefined> {
    if (lb.Type && lb.Type !== 'application') return undefined;
    const arn = lb.LoadBalancerArn!;
    const [listeners, groups] = await Promise.all([
      elb.send(new DescribeListenersCommand({ LoadBalancerArn: arn })),
      elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: arn })),
    ]);
    const tg = await clusterTargetGroupOf(groups.TargetGroups ?? [], listeners.Listeners ?? []);
    if (!tg) return undefined;
    const attributes = await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn }));
    const delay = attributes.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
    const http = listeners.Listeners?.find((l) => l.Protocol !== 'HTTPS');
    const https = listeners.Listeners?.find((l) => l.Protocol === 'HTTPS');
    const certificateArn = https?.Certificates?.[0]?.CertificateArn;
    return {
      name: lb.LoadBalancerName!,
      port: http?.Port ?? 80,
      protocol: 'http',
      // What is not the default only: absent means internet-facing, and HTTPS on 443.
      ...(lb.Scheme === 'internal' ? { scheme: 'internal' as const } : {}),
      ...(certificateArn ? { certificateArn } : {}),
      ...(https && https.Port !== HTTPS_PORT ? { httpsPort: https.Port } : {}),
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
          Scheme: spec.scheme ?? 'internet-facing',
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
      await ensureListeners(created.LoadBalancerArn!, arn, spec, listeners.Listeners ?? []);
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
      if ((current.scheme ?? 'internet-facing') !== (spec.scheme ?? 'internet-facing'))
        throw new InputError(
          `load balancer ${spec.name} is ${current.scheme ?? 'internet-facing'}; its scheme cannot change in place: make a new load balancer`,
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
      const listenersChange =
        current.port !== spec.port ||
        current.certificateArn !== spec.certificateArn ||
        (current.httpsPort ?? HTTPS_PORT) !== (spec.httpsPort ?? HTTPS_PORT);
      if (listenersChange) {
        const listeners = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }));
        await ensureListeners(lb.LoadBalancerArn!, arn, spec, listeners.Listeners ?? []);
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
      arns.delete(name);
      for (const tg of groups) arns.delete(tg.TargetGroupName!);
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
      const Targets = instanceIds.map((Id) => ({ Id }));
      await withArn(targetGroup, (arn) => elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets })));
    },

    async deregisterTargets(targetGroup, instanceIds) {
      if (instanceIds.length === 0) return;
      const Targets = instanceIds.map((Id) => ({ Id }));
      await withArn(targetGroup, (arn) => elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets })));
    },

    async describeTargetHealth(targetGroup) {
      const answer = await withArn(targetGroup, (arn) =>
        elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })),
      );
      return (answer.TargetHealthDescriptions ?? []).map((d): TargetHealth => ({
        instanceId: d.Target?.Id ?? '',
        state: healthOf(d.TargetHealth?.State),
        ...(d.TargetHealth?.Description ? { reason: d.TargetHealth.Description } : {}),
      }));
    },
  };
  return { methods, targetGroupArn, cachedTargetGroupArn };
}

/** A target group's name, from its ARN (`…:targetgroup/<name>/<id>`). */
export function targetGroupNameOf(arn: string): string {
  return /:targetgroup\/([^/]+)\//.exec(arn)?.[1] ?? arn;
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
