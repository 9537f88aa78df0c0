/**
 * The `aws` provider: EC2 (images, launch templates, instance addresses), Auto Scaling (server
 * groups) and ELBv2 (load balancers, target groups). Names and tags follow Asgard's: a server
 * group `search-prod-v004` is an ASG of that name tagged with its cluster, launched from a launch
 * template of the same name. Disabling is Asgard's and clouddriver's: suspend Launch, Terminate
 * and AddToLoadBalancer, then deregister the instances from each target group; enabling is the
 * reverse. Default credential chain; region from AWS_REGION.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  type Image as Ec2Image,
} from '@aws-sdk/client-ec2';
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
  SetSecurityGroupsCommand,
  RegisterTargetsCommand,
  type LoadBalancer as ElbLoadBalancer,
  type TargetGroup as ElbTargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConflictError, InputError, NotFoundError, parseServerGroupName } from '@slipway/core';
import { isDeepStrictEqual } from 'node:util';
import type {
  Capacity,
  CloudProvider,
  Image,
  ImageKind,
  Instance,
  LaunchTemplate,
  LaunchTemplateSpec,
  LifecycleState,
  LoadBalancer,
  LoadBalancerSpec,
  ServerGroup,
  ServerGroupSpec,
  TargetHealth,
  TargetHealthState,
} from '../provider.js';
import { isNotFound, realSleep, retrying, type Sleep } from './retry.js';
import { encodeUserData } from './user-data.js';

export interface AwsProviderOptions {
  region?: string;
  /** Subnets for server groups and load balancers. */
  subnets: string[];
  vpcId: string;
  ec2?: EC2Client;
  autoScaling?: AutoScalingClient;
  elb?: ElasticLoadBalancingV2Client;
  sleep?: Sleep;
}

/** What Asgard suspends to take a group out of service while keeping its instances. */
export const DISABLE_PROCESSES = ['Launch', 'Terminate', 'AddToLoadBalancer'];
const TEMPLATE_TAG = 'slipway:launch-template';

export function createAwsProvider(options: AwsProviderOptions): CloudProvider {
  const region = options.region ?? process.env.AWS_REGION;
  // One attempt in the SDK: retrying() does the backing off, once.
  const config = { ...(region ? { region } : {}), maxAttempts: 1 };
  const ec2 = options.ec2 ?? new EC2Client(config);
  const asg = options.autoScaling ?? new AutoScalingClient(config);
  const elb = options.elb ?? new ElasticLoadBalancingV2Client(config);
  const sleep = options.sleep ?? realSleep;
  const call = <T>(fn: () => Promise<T>, notFound = false) => retrying(fn, { sleep, notFound });
  const orNothing = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call(fn);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };

  async function describeGroup(name: string): Promise<AutoScalingGroup | undefined> {
    const answer = await call(() => asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })));
    return answer.AutoScalingGroups?.[0];
  }

  async function targetGroupByName(name: string): Promise<ElbTargetGroup | undefined> {
    const answer = await orNothing(() => elb.send(new DescribeTargetGroupsCommand({ Names: [name] })));
    return answer?.TargetGroups?.[0];
  }

  async function mustTargetGroupArn(name: string): Promise<string> {
    const group = await targetGroupByName(name);
    if (!group?.TargetGroupArn) throw new NotFoundError(`no target group ${name}`);
    return group.TargetGroupArn;
  }

  async function toServerGroup(group: AutoScalingGroup): Promise<ServerGroup> {
    const name = group.AutoScalingGroupName!;
    const ids = (group.Instances ?? []).map((i) => i.InstanceId!).filter(Boolean);
    const addresses = new Map<string, string>();
    if (ids.length > 0) {
      const answer = await call(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: ids })), true);
      for (const reservation of answer.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (instance.InstanceId && instance.PrivateIpAddress)
            addresses.set(instance.InstanceId, instance.PrivateIpAddress);
        }
      }
    }
    const arns = group.TargetGroupARNs ?? [];
    const names = arns.length
      ? (
          (await call(() => elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: arns })))).TargetGroups ?? []
        ).map((tg) => tg.TargetGroupName!)
      : [];
    const tags = Object.fromEntries((group.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
    const instances: Instance[] = (group.Instances ?? []).map((i) => ({
      id: i.InstanceId!,
      lifecycle: lifecycleOf(i.LifecycleState),
      launchedAt: '',
      ...(addresses.has(i.InstanceId!) ? { address: addresses.get(i.InstanceId!)! } : {}),
    }));
    return {
      name,
      cluster: parseServerGroupName(name)?.cluster ?? tags.cluster ?? '',
      launchTemplate: group.LaunchTemplate?.LaunchTemplateName ?? tags[TEMPLATE_TAG] ?? name,
      min: group.MinSize ?? 0,
      desired: group.DesiredCapacity ?? 0,
      max: group.MaxSize ?? 0,
      targetGroups: names,
      tags,
      disabled: (group.SuspendedProcesses ?? []).some((p) => p.ProcessName === 'AddToLoadBalancer'),
      createdAt: group.CreatedTime?.toISOString() ?? '',
      instances,
    };
  }

  async function toLoadBalancer(lb: ElbLoadBalancer): Promise<LoadBalancer> {
    const arn = lb.LoadBalancerArn!;
    const [listeners, groups] = await Promise.all([
      call(() => elb.send(new DescribeListenersCommand({ LoadBalancerArn: arn }))),
      call(() => elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: arn }))),
    ]);
    const tg = groups.TargetGroups?.[0];
    if (!tg) throw new NotFoundError(`load balancer ${lb.LoadBalancerName} has no target group`);
    const attributes = await call(() =>
      elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn })),
    );
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

  async function setDeregistrationDelay(targetGroupArn: string, seconds: number): Promise<void> {
    await call(() =>
      elb.send(
        new ModifyTargetGroupAttributesCommand({
          TargetGroupArn: targetGroupArn,
          Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(seconds) }],
        }),
      ),
    );
  }

  async function loadBalancerByName(name: string): Promise<ElbLoadBalancer | undefined> {
    const answer = await orNothing(() => elb.send(new DescribeLoadBalancersCommand({ Names: [name] })));
    return answer?.LoadBalancers?.[0];
  }

  const provider: CloudProvider = {
    kind: 'aws',

    async getImage(id) {
      const answer = await orNothing(() => ec2.send(new DescribeImagesCommand({ ImageIds: [id] })));
      const image = answer?.Images?.[0];
      return image ? toImage(image) : undefined;
    },

    async listImages(filter: { service?: string; kind?: ImageKind } = {}) {
      const filters = [
        ...(filter.service ? [{ Name: 'tag:service', Values: [filter.service] }] : []),
        ...(filter.kind ? [{ Name: 'tag:kind', Values: [filter.kind] }] : []),
      ];
      const answer = await call(() =>
        ec2.send(new DescribeImagesCommand({ Owners: ['self'], ...(filters.length ? { Filters: filters } : {}) })),
      );
      return (answer.Images ?? []).map(toImage).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    },

    async deregisterImage(id) {
      await orNothing(() => ec2.send(new DeregisterImageCommand({ ImageId: id })));
    },

    async imagesInUse() {
      const templates = new Set<string>();
      let token: string | undefined;
      do {
        const answer = await call(() =>
          asg.send(new DescribeAutoScalingGroupsCommand({ ...(token ? { NextToken: token } : {}) })),
        );
        for (const group of answer.AutoScalingGroups ?? []) {
          if (group.LaunchTemplate?.LaunchTemplateName) templates.add(group.LaunchTemplate.LaunchTemplateName);
        }
        token = answer.NextToken;
      } while (token);
      const images = await Promise.all(
        [...templates].map(async (name) => (await provider.getLaunchTemplate(name))?.imageId),
      );
      return [...new Set(images.filter((id): id is string => !!id))];
    },

    async createLaunchTemplate(spec: LaunchTemplateSpec) {
      try {
        const answer = await call(() =>
          ec2.send(
            new CreateLaunchTemplateCommand({
              LaunchTemplateName: spec.name,
              LaunchTemplateData: {
                ImageId: spec.imageId,
                InstanceType: spec.instanceType as never,
                UserData: encodeUserData(spec.userData),
                ...(spec.securityGroups?.length ? { SecurityGroupIds: spec.securityGroups } : {}),
                TagSpecifications: [{ ResourceType: 'instance', Tags: tagList({ ...spec.tags, name: spec.name }) }],
              },
              TagSpecifications: [
                { ResourceType: 'launch-template', Tags: tagList({ ...spec.tags, name: spec.name }) },
              ],
            }),
          ),
        );
        return {
          ...spec,
          id: answer.LaunchTemplate?.LaunchTemplateId ?? '',
          createdAt: (answer.LaunchTemplate?.CreateTime ?? new Date()).toISOString(),
        };
      } catch (error) {
        if (!/AlreadyExists/.test((error as Error).name)) throw error;
        const existing = await provider.getLaunchTemplate(spec.name);
        if (!existing || existing.imageId !== spec.imageId || existing.instanceType !== spec.instanceType) {
          throw new ConflictError(`launch template ${spec.name} exists with another spec`);
        }
        return { ...spec, id: existing.id, createdAt: existing.createdAt };
      }
    },

    async getLaunchTemplate(name) {
      const answer = await orNothing(() =>
        ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Latest'] })),
      );
      const version = answer?.LaunchTemplateVersions?.[0];
      if (!version) return undefined;
      const data = version.LaunchTemplateData ?? {};
      const template: LaunchTemplate = {
        id: version.LaunchTemplateId ?? '',
        name,
        imageId: data.ImageId ?? '',
        instanceType: String(data.InstanceType ?? ''),
        // What was rendered into the script is not read back; the script itself is the record.
        userData: { files: {}, commands: [] },
        securityGroups: data.SecurityGroupIds ?? [],
        createdAt: version.CreateTime?.toISOString() ?? '',
      };
      return template;
    },

    async deleteLaunchTemplate(name) {
      await orNothing(() => ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateName: name })));
    },

    async createServerGroup(spec: ServerGroupSpec) {
      const parts = parseServerGroupName(spec.name);
      if (!parts) throw new InputError(`invalid server group name ${spec.name}: <service>-<env>-vNNN`);
      const arns = await Promise.all(spec.targetGroups.map(mustTargetGroupArn));
      try {
        await call(() =>
          asg.send(
            new CreateAutoScalingGroupCommand({
              AutoScalingGroupName: spec.name,
              LaunchTemplate: { LaunchTemplateName: spec.launchTemplate, Version: '$Latest' },
              MinSize: spec.min,
              MaxSize: spec.max,
              DesiredCapacity: spec.desired,
              VPCZoneIdentifier: options.subnets.join(','),
              ...(arns.length ? { TargetGroupARNs: arns, HealthCheckType: 'ELB', HealthCheckGracePeriod: 60 } : {}),
              Tags: tagList({
                ...spec.tags,
                Name: spec.name,
                cluster: parts.cluster,
                service: parts.service,
                env: parts.env,
                [TEMPLATE_TAG]: spec.launchTemplate,
              }).map((tag) => ({ ...tag, PropagateAtLaunch: true })),
            }),
          ),
        );
      } catch (error) {
        if (!/AlreadyExists/.test((error as Error).name)) throw error;
        const existing = await describeGroup(spec.name);
        const same =
          existing &&
          existing.MinSize === spec.min &&
          existing.MaxSize === spec.max &&
          existing.DesiredCapacity === spec.desired &&
          isDeepStrictEqual([...(existing.TargetGroupARNs ?? [])].sort(), [...arns].sort());
        if (!same) throw new ConflictError(`server group ${spec.name} exists with another spec`);
      }
      if (spec.disabled) {
        // Before its first instance is in service (launching takes far longer than this call).
        await call(() =>
          asg.send(
            new SuspendProcessesCommand({ AutoScalingGroupName: spec.name, ScalingProcesses: DISABLE_PROCESSES }),
          ),
        );
      }
      // Right after a create, describing it may not find it yet.
      const created = await retrying(
        async () => {
          const group = await describeGroup(spec.name);
          if (!group) throw Object.assign(new Error(`server group ${spec.name} not found yet`), { name: 'NotFound' });
          return group;
        },
        { sleep, notFound: true },
      );
      return toServerGroup(created);
    },

    async getServerGroup(name) {
      const group = await describeGroup(name);
      return group && group.Status !== 'Delete in progress' ? toServerGroup(group) : undefined;
    },

    async listServerGroups(cluster) {
      const groups: AutoScalingGroup[] = [];
      let token: string | undefined;
      do {
        const answer = await call(() =>
          asg.send(
            new DescribeAutoScalingGroupsCommand({
              Filters: [{ Name: 'tag:cluster', Values: [cluster] }],
              ...(token ? { NextToken: token } : {}),
            }),
          ),
        );
        groups.push(...(answer.AutoScalingGroups ?? []));
        token = answer.NextToken;
      } while (token);
      const mine = groups.filter(
        (g) =>
          parseServerGroupName(g.AutoScalingGroupName ?? '')?.cluster === cluster && g.Status !== 'Delete in progress',
      );
      mine.sort((a, b) => (a.CreatedTime?.getTime() ?? 0) - (b.CreatedTime?.getTime() ?? 0));
      return Promise.all(mine.map(toServerGroup));
    },

    async resizeServerGroup(name, capacity: Capacity) {
      await call(() =>
        asg.send(
          new UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: name,
            MinSize: capacity.min,
            MaxSize: capacity.max,
            DesiredCapacity: capacity.desired,
          }),
        ),
      );
      return mustGroup(name);
    },

    async disableServerGroup(name) {
      const group = await describeGroupOrThrow(name);
      await call(() =>
        asg.send(new SuspendProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES })),
      );
      const targets = (group.Instances ?? []).map((i) => ({ Id: i.InstanceId! }));
      if (targets.length) {
        for (const arn of group.TargetGroupARNs ?? []) {
          await call(() => elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: targets })));
        }
      }
      return mustGroup(name);
    },

    async enableServerGroup(name) {
      const group = await describeGroupOrThrow(name);
      const targets = (group.Instances ?? []).map((i) => ({ Id: i.InstanceId! }));
      if (targets.length) {
        for (const arn of group.TargetGroupARNs ?? []) {
          await call(() => elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: targets })));
        }
      }
      await call(() =>
        asg.send(new ResumeProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES })),
      );
      return mustGroup(name);
    },

    async destroyServerGroup(name) {
      const group = await describeGroup(name);
      if (!group) return;
      await orNothing(() =>
        asg.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true })),
      );
      const template = group.LaunchTemplate?.LaunchTemplateName;
      if (template) await provider.deleteLaunchTemplate(template);
    },

    async createLoadBalancer(spec: LoadBalancerSpec) {
      const check = spec.targetGroup.healthCheck;
      const tags = tagList({ ...spec.tags, Name: spec.name });
      // ELBv2 answers an identical create with the existing resource, so these are idempotent.
      const tg = await call(() =>
        elb.send(
          new CreateTargetGroupCommand({
            Name: spec.targetGroup.name,
            Protocol: 'HTTP',
            Port: spec.port,
            VpcId: options.vpcId,
            TargetType: 'instance',
            HealthCheckProtocol: 'HTTP',
            HealthCheckPath: check.path,
            HealthCheckIntervalSeconds: check.intervalSeconds,
            HealthCheckTimeoutSeconds: check.timeoutSeconds,
            HealthyThresholdCount: check.healthyThreshold,
            UnhealthyThresholdCount: check.unhealthyThreshold,
            Tags: tags,
          }),
        ),
      );
      const targetGroupArn = tg.TargetGroups![0]!.TargetGroupArn!;
      await setDeregistrationDelay(targetGroupArn, spec.targetGroup.deregistrationDelaySeconds);
      const lb = await call(() =>
        elb.send(
          new CreateLoadBalancerCommand({
            Name: spec.name,
            Type: 'application',
            Scheme: 'internet-facing',
            Subnets: options.subnets,
            ...(spec.securityGroups?.length ? { SecurityGroups: spec.securityGroups } : {}),
            Tags: tags,
          }),
        ),
      );
      const created = lb.LoadBalancers![0]!;
      const listeners = await call(() =>
        elb.send(new DescribeListenersCommand({ LoadBalancerArn: created.LoadBalancerArn })),
      );
      if (!listeners.Listeners?.some((l) => l.Port === spec.port)) {
        await call(() =>
          elb.send(
            new CreateListenerCommand({
              LoadBalancerArn: created.LoadBalancerArn,
              Protocol: 'HTTP',
              Port: spec.port,
              DefaultActions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
            }),
          ),
        );
      }
      return {
        ...spec,
        address: created.DNSName ?? '',
        createdAt: created.CreatedTime?.toISOString() ?? new Date().toISOString(),
      };
    },

    async modifyLoadBalancer(spec: LoadBalancerSpec) {
      const lb = await loadBalancerByName(spec.name);
      if (!lb) throw new NotFoundError(`no load balancer ${spec.name}`);
      const current = await toLoadBalancer(lb);
      if (current.targetGroup.name !== spec.targetGroup.name)
        throw new InputError(
          `load balancer ${spec.name} has target group ${current.targetGroup.name}; a target group cannot be renamed in place`,
        );
      const targetGroupArn = await mustTargetGroupArn(spec.targetGroup.name);
      const check = spec.targetGroup.healthCheck;
      // Only what differs is sent: each of these calls is a change someone reviews in CloudTrail.
      if (!isDeepStrictEqual(current.targetGroup.healthCheck, check)) {
        await call(() =>
          elb.send(
            new ModifyTargetGroupCommand({
              TargetGroupArn: targetGroupArn,
              HealthCheckPath: check.path,
              HealthCheckIntervalSeconds: check.intervalSeconds,
              HealthCheckTimeoutSeconds: check.timeoutSeconds,
              HealthyThresholdCount: check.healthyThreshold,
              UnhealthyThresholdCount: check.unhealthyThreshold,
            }),
          ),
        );
      }
      if (current.targetGroup.deregistrationDelaySeconds !== spec.targetGroup.deregistrationDelaySeconds) {
        await setDeregistrationDelay(targetGroupArn, spec.targetGroup.deregistrationDelaySeconds);
      }
      if (current.port !== spec.port) {
        const listeners = await call(() =>
          elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn })),
        );
        const listener = listeners.Listeners?.find((l) => l.Port === current.port);
        await call(() => elb.send(new ModifyListenerCommand({ ListenerArn: listener?.ListenerArn, Port: spec.port })));
      }
      const groups = [...(spec.securityGroups ?? [])].sort();
      if (!isDeepStrictEqual([...(current.securityGroups ?? [])].sort(), groups)) {
        await call(() =>
          elb.send(new SetSecurityGroupsCommand({ LoadBalancerArn: lb.LoadBalancerArn, SecurityGroups: groups })),
        );
      }
      return { ...spec, address: current.address, createdAt: current.createdAt };
    },

    async getLoadBalancer(name) {
      const lb = await loadBalancerByName(name);
      return lb ? toLoadBalancer(lb) : undefined;
    },

    async listLoadBalancers() {
      const answer = await call(() => elb.send(new DescribeLoadBalancersCommand({})));
      return Promise.all((answer.LoadBalancers ?? []).map(toLoadBalancer));
    },

    async deleteLoadBalancer(name) {
      const lb = await loadBalancerByName(name);
      if (!lb) return;
      const groups = await call(() =>
        elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: lb.LoadBalancerArn })),
      );
      await orNothing(() => elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb.LoadBalancerArn })));
      for (const tg of groups.TargetGroups ?? []) {
        // A target group stays "in use" for a moment after its load balancer goes.
        await retrying(
          async () => {
            try {
              await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg.TargetGroupArn }));
            } catch (error) {
              if (isNotFound(error)) return;
              if ((error as Error).name === 'ResourceInUseException')
                throw Object.assign(error as Error, { name: 'Throttling' });
              throw error;
            }
          },
          { sleep },
        );
      }
    },

    async registerTargets(targetGroup, instanceIds) {
      const arn = await mustTargetGroupArn(targetGroup);
      await call(() =>
        elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: instanceIds.map((Id) => ({ Id })) })),
      );
    },

    async deregisterTargets(targetGroup, instanceIds) {
      const arn = await mustTargetGroupArn(targetGroup);
      await call(() =>
        elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: instanceIds.map((Id) => ({ Id })) })),
      );
    },

    async describeTargetHealth(targetGroup) {
      const arn = await mustTargetGroupArn(targetGroup);
      const answer = await call(() => elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })));
      return (answer.TargetHealthDescriptions ?? []).map((d): TargetHealth => ({
        instanceId: d.Target?.Id ?? '',
        state: healthOf(d.TargetHealth?.State),
        ...(d.TargetHealth?.Description ? { reason: d.TargetHealth.Description } : {}),
      }));
    },
  };

  async function describeGroupOrThrow(name: string): Promise<AutoScalingGroup> {
    const group = await describeGroup(name);
    if (!group) throw new NotFoundError(`no server group ${name}`);
    return group;
  }

  async function mustGroup(name: string): Promise<ServerGroup> {
    return toServerGroup(await describeGroupOrThrow(name));
  }

  return provider;
}

function toImage(image: Ec2Image): Image {
  const tags = Object.fromEntries((image.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
  return {
    id: image.ImageId!,
    kind: tags.kind === 'base' ? 'base' : 'service',
    ...(tags.service ? { service: tags.service } : {}),
    ...(tags.version ? { version: tags.version } : {}),
    ...(tags.base_image ? { baseImage: tags.base_image } : {}),
    createdAt: image.CreationDate ?? '',
    tags,
  };
}

function tagList(tags: Record<string, string | undefined>): Array<{ Key: string; Value: string }> {
  return Object.entries(tags)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([Key, Value]) => ({ Key, Value }));
}

function lifecycleOf(state: string | undefined): LifecycleState {
  if (!state) return 'pending';
  if (state.startsWith('Pending')) return 'pending';
  if (state.startsWith('Terminating')) return 'terminating';
  if (state === 'Terminated') return 'terminated';
  return 'running';
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
