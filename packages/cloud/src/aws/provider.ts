/**
 * The `aws` provider: EC2 (images, launch templates, instance addresses and status), Auto
 * Scaling (server groups) and ELBv2 (load balancers, target groups). Names and tags follow
 * Asgard's: a server group `search-prod-v004` is an ASG of that name tagged with its cluster,
 * launched from a launch template of the same name at a pinned version.
 *
 * Out of service is Asgard's and clouddriver's: Launch, Terminate and AddToLoadBalancer
 * suspended and the instances deregistered from each target group. A group created out of
 * service is created with no target group attached (the ones it joins are in a tag), so no
 * instance is ever registered before enableServerGroup — there is no window to crash in.
 */
import {
  AttachLoadBalancerTargetGroupsCommand,
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  paginateDescribeAutoScalingGroups,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  CopyImageCommand,
  DescribeImagesCommand,
  EC2Client,
  paginateDescribeImages,
  type Image as Ec2Image,
} from '@aws-sdk/client-ec2';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  ConflictError,
  createLogger,
  InputError,
  NotFoundError,
  parseServerGroupName,
  type Logger,
} from '@slipway/core';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type {
  CloudProvider,
  Image,
  ImageKind,
  Instance,
  LifecycleState,
  ServerGroup,
  CloudListing,
  ServerGroupSpec,
  TargetHealth,
} from '../provider.js';
import { awsBakes, deregisterImageAndSnapshots } from './bakes.js';
import { awsLaunchTemplates } from './launch-templates.js';
import { awsLoadBalancers, tagList, targetGroupNameOf } from './load-balancers.js';
import { awsTraffic } from './traffic.js';
import { awsTrafficSplit } from './traffic-split.js';
import {
  awsClientConfig,
  errorName,
  isThrottle,
  isTransient,
  orNothing,
  realSleep,
  retryEventually,
  type AwsClientOptions,
  type Sleep,
} from './retry.js';
import {
  createRegionSnapshot,
  describeInstances,
  launchFailure,
  type Clock,
  type InstanceDetails,
} from './snapshot.js';

/** Target groups described at once for describeClusters: AWS's ELB API allows about 10 a second sustained. */
const HEALTH_AT_ONCE = 8;

export interface AwsProviderOptions extends AwsClientOptions {
  /** Subnets for server groups (and load balancers, unless loadBalancerSubnets names others). */
  subnets: string[];
  /** The load balancers' own subnets: public ones for an internet-facing load balancer in front of private instances. */
  loadBalancerSubnets?: string[];
  vpcId: string;
  /** The port the service image starts the service on (templates/packer/service-aws.json): 8080. */
  instancePort?: number;
  /** Judge instances by HTTP probes of their private addresses (an orchestrator inside the VPC) instead of EC2's status checks. */
  directProbes?: boolean;
  /** How old what deployments poll may be before AWS is described again (default 2000 ms; see snapshot.ts). */
  describeEveryMs?: number;
  /** How long every launch must have failed before a group's launch failure is reported (default 120 s). */
  launchFailureSeconds?: number;
  ec2?: EC2Client;
  autoScaling?: AutoScalingClient;
  elb?: ElasticLoadBalancingV2Client;
  cloudWatch?: CloudWatchClient;
  sleep?: Sleep;
  clock?: Clock;
  /** Where what AWS left undone is told (snapshots an image's deregistration kept); default a `cloud-aws` log. */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * What a disabled group has suspended, Asgard's three and what would otherwise replace or move
 * its instances while they take no traffic: health checks (a deregistered target is not a sick
 * instance), replacing unhealthy ones and rebalancing across zones.
 */
export const DISABLE_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'HealthCheck',
  'ReplaceUnhealthy',
  'AZRebalance',
];
const TEMPLATE_TAG = 'slipway:launch-template';
/** The target groups a group joins when enabled, by name, comma-separated. */
const TARGET_GROUPS_TAG = 'slipway:target-groups';
/** A group's health check grace when its spec names none: Auto Scaling's console default. */
const DEFAULT_GRACE_SECONDS = 300;
/** How long a group may be refused for a scaling activity in progress before its delete gives up. */
const DELETE_RETRY_MS = 120_000;

/** AWS refusing a new instance profile it does not see yet (IAM is eventually consistent). */
const isProfileNotReady = (error: unknown) =>
  errorName(error) === 'ValidationError' && /instance profile|IamInstanceProfile/i.test((error as Error).message);

export function createAwsProvider(options: AwsProviderOptions): CloudProvider {
  const config = awsClientConfig(options);
  const ec2 = options.ec2 ?? new EC2Client(config);
  const asg = options.autoScaling ?? new AutoScalingClient(config);
  const elb = options.elb ?? new ElasticLoadBalancingV2Client(config);
  const sleep = options.sleep ?? realSleep;
  const clock = options.clock ?? Date;
  const logger = options.logger ?? createLogger({ name: 'cloud-aws' });
  const instancePort = options.instancePort ?? 8080;
  const launchFailureMs = (options.launchFailureSeconds ?? 120) * 1000;
  const where = options.region ?? config.region ?? 'this region';
  const snapshot = createRegionSnapshot({
    asg,
    ec2,
    instancePort,
    everyMs: options.describeEveryMs ?? 2000,
    launchFailureMs,
    tagKey: TEMPLATE_TAG,
    clock,
  });
  const lbs = awsLoadBalancers({
    elb,
    vpcId: options.vpcId,
    subnets: options.loadBalancerSubnets?.length ? options.loadBalancerSubnets : options.subnets,
    instancePort,
    sleep,
  });
  const templates = awsLaunchTemplates({
    ec2,
    vpcId: options.vpcId,
    region: where,
    ...(config.region ? { secretsRegion: config.region } : {}),
    sleep,
  });
  const templateVersion = templates.templateVersion;

  /** One group as it is now; a throttle that outlasted the SDK's retries is asked again, slower. */
  async function describeGroup(name: string): Promise<AutoScalingGroup | undefined> {
    const answer = await retryEventually(
      () => asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })),
      { sleep, attempts: 4, retryOn: isTransient },
    );
    return answer.AutoScalingGroups?.[0];
  }

  async function describeGroupOrThrow(name: string): Promise<AutoScalingGroup> {
    const group = await describeGroup(name);
    if (!group) throw new NotFoundError(`no server group ${name}`);
    return group;
  }

  /** Groups as they are now, not as the last snapshot had them: for writes and their checks. */
  async function fresh(groups: AutoScalingGroup[]): Promise<ServerGroup[]> {
    const ids = groups.flatMap((g) => (g.Instances ?? []).map((i) => i.InstanceId!));
    const details = await describeInstances(ec2, ids, instancePort);
    const now = clock.now();
    return Promise.all(
      groups.map(async (g) =>
        toServerGroup(g, details, await launchFailure(asg, g, { now, persistMs: launchFailureMs })),
      ),
    );
  }

  async function freshGroup(name: string): Promise<ServerGroup | undefined> {
    const group = await describeGroup(name);
    return group && group.Status !== 'Delete in progress' ? (await fresh([group]))[0] : undefined;
  }

  /**
   * Auto Scaling judges a group by the load balancer only once its targets were first healthy:
   * from its launch, a slow starter would be replaced in a loop. So a group is made with EC2
   * health checks (and its grace period), and switched here the first time every instance it
   * has in service is healthy in one of its target groups.
   */
  async function useLoadBalancerHealth(targetGroup: string, health: TargetHealth[]): Promise<void> {
    const arn = await lbs.cachedTargetGroupArn(targetGroup);
    const healthy = new Set(health.filter((t) => t.state === 'healthy').map((t) => t.instanceId));
    const { groups } = await snapshot.read();
    for (const group of groups.values()) {
      if (group.HealthCheckType === 'ELB' || !(group.TargetGroupARNs ?? []).includes(arn ?? '')) continue;
      if ((group.SuspendedProcesses ?? []).some((p) => p.ProcessName === 'AddToLoadBalancer')) continue;
      const inService = (group.Instances ?? []).filter((i) => i.LifecycleState === 'InService');
      if (inService.length === 0 || !inService.every((i) => healthy.has(i.InstanceId!))) continue;
      await asg.send(
        new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: group.AutoScalingGroupName, HealthCheckType: 'ELB' }),
      );
      snapshot.invalidate();
    }
  }

  function toServerGroup(
    group: AutoScalingGroup,
    details: Map<string, InstanceDetails>,
    failure: string | undefined,
  ): ServerGroup {
    const name = group.AutoScalingGroupName!;
    const tags = Object.fromEntries((group.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
    const members = group.Instances ?? [];
    const attached = (group.TargetGroupARNs ?? []).map(targetGroupNameOf);
    const wanted = TARGET_GROUPS_TAG in tags ? splitNames(tags[TARGET_GROUPS_TAG]!) : attached;
    const instances: Instance[] = members.map((i) => {
      const { launchedAt = '', ...rest } = details.get(i.InstanceId!) ?? {};
      return { id: i.InstanceId!, lifecycle: lifecycleOf(i.LifecycleState), launchedAt, ...rest };
    });
    const suspended = (group.SuspendedProcesses ?? []).some((p) => p.ProcessName === 'AddToLoadBalancer');
    return {
      name,
      cluster: parseServerGroupName(name)?.cluster ?? tags.cluster ?? '',
      launchTemplate: group.LaunchTemplate?.LaunchTemplateName ?? tags[TEMPLATE_TAG] ?? name,
      min: group.MinSize ?? 0,
      desired: group.DesiredCapacity ?? 0,
      max: group.MaxSize ?? 0,
      targetGroups: wanted,
      tags,
      disabled: suspended || (wanted.length > 0 && attached.length === 0),
      createdAt: group.CreatedTime?.toISOString() ?? '',
      instances,
      ...(failure ? { launchFailure: failure } : {}),
    };
  }

  const provider: CloudProvider = {
    kind: 'aws',
    healthSource: options.directProbes ? 'http' : 'status-checks',

    async ping() {
      await asg.send(new DescribeAutoScalingGroupsCommand({ MaxRecords: 1 }));
    },

    async getImage(id) {
      const answer = await orNothing(() => ec2.send(new DescribeImagesCommand({ ImageIds: [id] })));
      const image = answer?.Images?.[0];
      return image && image.State !== 'deregistered' ? toImage(image) : undefined;
    },

    async listImages(filter: { service?: string; kind?: ImageKind } = {}) {
      const filters = [
        ...(filter.service ? [{ Name: 'tag:service', Values: [filter.service] }] : []),
        ...(filter.kind ? [{ Name: 'tag:kind', Values: [filter.kind] }] : []),
      ];
      const images: Ec2Image[] = [];
      const input = { Owners: ['self'], ...(filters.length ? { Filters: filters } : {}) };
      for await (const page of paginateDescribeImages({ client: ec2 }, input)) images.push(...(page.Images ?? []));
      return images.map(toImage).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    },

    async deregisterImage(id) {
      // Its snapshots go with it; InvalidAMIID.NotFound and .Unavailable (already deregistered) both mean gone.
      await deregisterImageAndSnapshots(ec2, id, logger);
    },

    async copyImage(source) {
      const answer = await ec2.send(
        new CopyImageCommand({
          SourceRegion: source.region,
          SourceImageId: source.imageId,
          Name: source.name,
          Description: `${source.imageId} from ${source.region}`,
          CopyImageTags: true,
          // The same source and destination always make one copy, however often it is asked.
          ClientToken: createHash('sha256').update(`${source.region}/${source.imageId}`).digest('hex').slice(0, 64),
        }),
      );
      return answer.ImageId!;
    },

    async imagesInUse() {
      const templates = new Map<string, string>();
      for await (const page of paginateDescribeAutoScalingGroups({ client: asg }, {})) {
        for (const group of page.AutoScalingGroups ?? []) {
          const lt = group.LaunchTemplate;
          if (lt?.LaunchTemplateName) templates.set(lt.LaunchTemplateName, lt.Version ?? '$Default');
        }
      }
      const images = await Promise.all(
        [...templates].map(
          async ([name, version]) => (await templateVersion(name, version))?.LaunchTemplateData?.ImageId,
        ),
      );
      return [...new Set(images.filter((id): id is string => !!id))];
    },

    ...templates.methods,

    async createServerGroup(spec: ServerGroupSpec) {
      const parts = parseServerGroupName(spec.name);
      if (!parts) throw new InputError(`invalid server group name ${spec.name}: <service>-<env>-vNNN`);
      const arns = await Promise.all(spec.targetGroups.map(lbs.targetGroupArn));
      const template = await retryEventually(
        async () => {
          const found = await templateVersion(spec.launchTemplate);
          if (!found) throw new NotFoundError(`no launch template ${spec.launchTemplate}`);
          return found;
        },
        { sleep, attempts: 4 },
      );
      const attach = !spec.disabled && arns.length > 0;
      const sameAs = async () => {
        const existing = await freshGroup(spec.name);
        if (!existing) return false;
        const same =
          existing.min === spec.min &&
          existing.max === spec.max &&
          existing.desired === spec.desired &&
          isDeepStrictEqual([...existing.targetGroups].sort(), [...spec.targetGroups].sort());
        if (!same) throw new ConflictError(`server group ${spec.name} exists with another spec`);
        return true;
      };
      const create = () =>
        asg.send(
          new CreateAutoScalingGroupCommand({
            AutoScalingGroupName: spec.name,
            // Pinned: a later version of the template never changes what this group launches.
            LaunchTemplate: { LaunchTemplateName: spec.launchTemplate, Version: String(template.VersionNumber ?? 1) },
            MinSize: spec.min,
            MaxSize: spec.max,
            DesiredCapacity: spec.desired,
            VPCZoneIdentifier: options.subnets.join(','),
            // EC2's checks until its targets were first healthy (useLoadBalancerHealth), after the grace period.
            HealthCheckType: 'EC2',
            HealthCheckGracePeriod: Math.round(spec.healthCheckGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS),
            ...(attach ? { TargetGroupARNs: arns } : {}),
            Tags: tagList({
              ...spec.tags,
              Name: spec.name,
              cluster: parts.cluster,
              service: parts.service,
              env: parts.env,
              [TEMPLATE_TAG]: spec.launchTemplate,
              [TARGET_GROUPS_TAG]: spec.targetGroups.join(','),
            }).map((tag) => ({ ...tag, PropagateAtLaunch: true })),
          }),
        );
      // Looked for first as well: moto (unlike AWS) replaces an existing group instead of refusing.
      if (!(await sameAs()))
        try {
          // An instance profile made moments ago is refused until IAM has it everywhere.
          await retryEventually(create, { sleep, attempts: 10, retryOn: isProfileNotReady });
        } catch (error) {
          if (!/AlreadyExists/.test(errorName(error)) || !(await sameAs())) throw error;
        }
      snapshot.invalidate();
      // Right after a create, describing it may not find it yet.
      return retryEventually(
        async () =>
          (await freshGroup(spec.name)) ?? Promise.reject(new NotFoundError(`server group ${spec.name} not found yet`)),
        { sleep },
      );
    },

    async getServerGroup(name) {
      const { groups, instances, failures } = await snapshot.read();
      const group = groups.get(name);
      if (group) return toServerGroup(group, instances, failures.get(name));
      // Made since the snapshot, or by something that did not tag it: asked for by name.
      return freshGroup(name);
    },

    async listServerGroups(cluster) {
      const groups: AutoScalingGroup[] = [];
      const input = { Filters: [{ Name: 'tag:cluster', Values: [cluster] }] };
      for await (const page of paginateDescribeAutoScalingGroups({ client: asg }, input))
        groups.push(...(page.AutoScalingGroups ?? []));
      const mine = groups.filter(
        (g) =>
          parseServerGroupName(g.AutoScalingGroupName ?? '')?.cluster === cluster && g.Status !== 'Delete in progress',
      );
      mine.sort((a, b) => (a.CreatedTime?.getTime() ?? 0) - (b.CreatedTime?.getTime() ?? 0));
      return fresh(mine);
    },

    async describeClusters(options) {
      // The region's snapshot (one paginated DescribeAutoScalingGroups for every Slipway group);
      // AWS has no batch DescribeTargetHealth, so each target group in service is asked (cached a tick).
      const { groups, instances, failures } = await snapshot.read();
      const listed = [...groups.values()]
        .sort((a, b) => (a.CreatedTime?.getTime() ?? 0) - (b.CreatedTime?.getTime() ?? 0))
        .map((g) => toServerGroup(g, instances, failures.get(g.AutoScalingGroupName!)));
      if (options?.health === false) return { groups: listed, targetHealth: {} };
      const serving = [...new Set(listed.filter((g) => !g.disabled).flatMap((g) => g.targetGroups))];
      const targetHealth: CloudListing['targetHealth'] = {};
      for (let i = 0; i < serving.length; i += HEALTH_AT_ONCE)
        await Promise.all(
          serving.slice(i, i + HEALTH_AT_ONCE).map(async (tg) => {
            // Throttled past the SDK's retries (an account's shared ELB bucket): this group's health is
            // unknown in the listing, the rest is answered.
            const health = await orNothing(() => provider.describeTargetHealth(tg)).catch((error: unknown) => {
              if (isThrottle(error)) return undefined;
              throw error;
            });
            if (health) targetHealth[tg] = health;
          }),
        );
      return { groups: listed, targetHealth };
    },

    async resizeServerGroup(name, capacity) {
      // A disabled group has Launch and Terminate suspended (Asgard's way), so a new size would
      // never take effect: they are resumed for it, AddToLoadBalancer staying suspended — the
      // group stays out of service (a retained group scaled to zero, or back up for an undo).
      const frozen = ((await describeGroupOrThrow(name)).SuspendedProcesses ?? [])
        .map((p) => p.ProcessName)
        .filter((p): p is string => p === 'Launch' || p === 'Terminate');
      if (frozen.length)
        await asg.send(new ResumeProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: frozen }));
      await asg.send(
        new UpdateAutoScalingGroupCommand({
          AutoScalingGroupName: name,
          MinSize: capacity.min,
          MaxSize: capacity.max,
          DesiredCapacity: capacity.desired,
        }),
      );
      snapshot.invalidate();
      return freshGroup(name).then((g) => g ?? Promise.reject(new NotFoundError(`no server group ${name}`)));
    },

    async disableServerGroup(name) {
      const [group] = await fresh([await describeGroupOrThrow(name)]);
      await asg.send(new SuspendProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES }));
      snapshot.invalidate();
      const ids = group!.instances.map((i) => i.id);
      for (const tg of group!.targetGroups) await provider.deregisterTargets(tg, ids);
      return { ...group!, disabled: true };
    },

    async enableServerGroup(name) {
      const raw = await describeGroupOrThrow(name);
      const [group] = await fresh([raw]);
      // Only instances in service: a pending, standby or leaving instance must not take traffic.
      const running = group!.instances.filter((i) => i.lifecycle === 'running').map((i) => i.id);
      for (const tg of group!.targetGroups) await provider.registerTargets(tg, running);
      const arns = await Promise.all(group!.targetGroups.map(lbs.targetGroupArn));
      const missing = arns.filter((arn) => !(raw.TargetGroupARNs ?? []).includes(arn));
      if (missing.length)
        // A target group just made (a burn-in's split) is not known to Auto Scaling at once: ValidationError.
        await retryEventually(
          () =>
            asg.send(
              new AttachLoadBalancerTargetGroupsCommand({ AutoScalingGroupName: name, TargetGroupARNs: missing }),
            ),
          { sleep, retryOn: (error) => errorName(error) === 'ValidationError' },
        );
      if ((raw.SuspendedProcesses ?? []).length)
        await asg.send(new ResumeProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES }));
      snapshot.invalidate();
      return { ...group!, disabled: false };
    },

    async destroyServerGroup(name) {
      const group = await describeGroup(name);
      if (group && group.Status !== 'Delete in progress')
        // Refused while a scaling activity runs (a launch, a termination): it ends within minutes.
        await retryEventually(
          () =>
            orNothing(() =>
              asg.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true })),
            ),
          {
            sleep,
            forMs: DELETE_RETRY_MS,
            capMs: 10_000,
            retryOn: (error) => /ScalingActivityInProgress|ResourceInUse/.test(errorName(error)) || isTransient(error),
          },
        );
      snapshot.invalidate();
      // The template goes too, also when a crash came between the two deletes (same name by convention).
      await provider.deleteLaunchTemplate(group?.LaunchTemplate?.LaunchTemplateName ?? name);
    },

    ...lbs.methods,

    async registerTargets(targetGroup, instanceIds) {
      await lbs.methods.registerTargets(targetGroup, instanceIds);
      snapshot.invalidate();
    },

    async deregisterTargets(targetGroup, instanceIds) {
      await lbs.methods.deregisterTargets(targetGroup, instanceIds);
      snapshot.invalidate();
    },

    async describeTargetHealth(targetGroup) {
      const health = await snapshot.cached(`health:${targetGroup}`, () =>
        lbs.methods.describeTargetHealth(targetGroup),
      );
      await useLoadBalancerHealth(targetGroup, health);
      return health;
    },

    ...awsTrafficSplit({
      elb,
      asg,
      sleep,
      targetGroupsTag: TARGET_GROUPS_TAG,
      describeGroup,
      enable: (name) => provider.enableServerGroup(name),
      disable: (name) => provider.disableServerGroup(name),
      suspend: async (name) => {
        await asg.send(
          new SuspendProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES }),
        );
        snapshot.invalidate();
      },
      suspended: (group) => (group.SuspendedProcesses ?? []).some((p) => p.ProcessName === 'AddToLoadBalancer'),
      changed: () => snapshot.invalidate(),
      logger,
    }),

    ...awsBakes({ ec2, vpcId: options.vpcId, subnets: options.subnets, sleep, logger }),
    ...awsTraffic({
      cloudWatch: options.cloudWatch ?? new CloudWatchClient(config),
      elb,
      serverGroup: (name) => provider.getServerGroup(name),
    }),
  };
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
    // Only what is not ready to launch says so: a copy still being made, or one that failed.
    ...(image.State && image.State !== 'available'
      ? { state: image.State, ...(image.StateReason?.Message ? { stateReason: image.StateReason.Message } : {}) }
      : {}),
  };
}

function splitNames(text: string): string[] {
  return text.split(',').filter(Boolean);
}

/** ASG lifecycle states: only InService serves; Standby and EnteringStandby may come back, Detaching leaves. */
function lifecycleOf(state: string | undefined): LifecycleState {
  if (state === 'InService') return 'running';
  if (state === 'Terminated' || state === 'Detached') return 'terminated';
  if (state?.startsWith('Terminating') || state === 'Detaching') return 'terminating';
  return 'pending'; // Pending*, Standby, EnteringStandby, Warmed:*
}
