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
  DescribeScalingActivitiesCommand,
  paginateDescribeAutoScalingGroups,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  CopyImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  EC2Client,
  paginateDescribeImages,
  type Image as Ec2Image,
} from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConflictError, InputError, NotFoundError, parseServerGroupName } from '@slipway/core';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type {
  CloudProvider,
  Image,
  ImageKind,
  Instance,
  InstanceStatus,
  LifecycleState,
  ServerGroup,
  ServerGroupSpec,
} from '../provider.js';
import { awsLaunchTemplates } from './launch-templates.js';
import { awsLoadBalancers, tagList } from './load-balancers.js';
import {
  awsClientConfig,
  errorName,
  orNothing,
  realSleep,
  retryEventually,
  type AwsClientOptions,
  type Sleep,
} from './retry.js';

export interface AwsProviderOptions extends AwsClientOptions {
  /** Subnets for server groups and load balancers. */
  subnets: string[];
  vpcId: string;
  /** The port the service image starts the service on (infra/packer/service-aws.json): 8080. */
  instancePort?: number;
  /** Judge instances by HTTP probes of their private addresses (an orchestrator inside the VPC) instead of EC2's status checks. */
  directProbes?: boolean;
  ec2?: EC2Client;
  autoScaling?: AutoScalingClient;
  elb?: ElasticLoadBalancingV2Client;
  sleep?: Sleep;
}

/** What Asgard suspends to take a group out of service while keeping its instances. */
export const DISABLE_PROCESSES = ['Launch', 'Terminate', 'AddToLoadBalancer'];
const TEMPLATE_TAG = 'slipway:launch-template';
/** The target groups a group joins when enabled, by name, comma-separated. */
const TARGET_GROUPS_TAG = 'slipway:target-groups';
const HEALTH_CHECK_GRACE_SECONDS = 60;

export function createAwsProvider(options: AwsProviderOptions): CloudProvider {
  const config = awsClientConfig(options);
  const ec2 = options.ec2 ?? new EC2Client(config);
  const asg = options.autoScaling ?? new AutoScalingClient(config);
  const elb = options.elb ?? new ElasticLoadBalancingV2Client(config);
  const sleep = options.sleep ?? realSleep;
  const instancePort = options.instancePort ?? 8080;
  const lbs = awsLoadBalancers({ elb, vpcId: options.vpcId, subnets: options.subnets, instancePort, sleep });
  const templates = awsLaunchTemplates({ ec2, vpcId: options.vpcId, sleep });
  const templateVersion = templates.templateVersion;

  async function describeGroup(name: string): Promise<AutoScalingGroup | undefined> {
    const answer = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
    return answer.AutoScalingGroups?.[0];
  }

  async function describeGroupOrThrow(name: string): Promise<AutoScalingGroup> {
    const group = await describeGroup(name);
    if (!group) throw new NotFoundError(`no server group ${name}`);
    return group;
  }

  async function instanceDetails(ids: string[]) {
    const details = new Map<string, { address?: string; launchedAt: string; status?: InstanceStatus }>();
    if (ids.length === 0) return details;
    // Just launched instances may not be described yet.
    const [described, statuses] = await Promise.all([
      retryEventually(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: ids })), { sleep, attempts: 4 }),
      retryEventually(
        () => ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, IncludeAllInstances: true })),
        { sleep, attempts: 4 },
      ),
    ]);
    const status = new Map(
      (statuses.InstanceStatuses ?? []).map((s) => [
        s.InstanceId!,
        statusOf(s.SystemStatus?.Status, s.InstanceStatus?.Status),
      ]),
    );
    for (const reservation of described.Reservations ?? []) {
      for (const i of reservation.Instances ?? []) {
        details.set(i.InstanceId!, {
          ...(i.PrivateIpAddress ? { address: `${i.PrivateIpAddress}:${instancePort}` } : {}),
          launchedAt: i.LaunchTime?.toISOString() ?? '',
          ...(status.has(i.InstanceId!) ? { status: status.get(i.InstanceId!)! } : {}),
        });
      }
    }
    return details;
  }

  /** The newest scaling activity's failure, read only while the group is short of instances. */
  async function launchFailure(group: AutoScalingGroup): Promise<string | undefined> {
    const live = (group.Instances ?? []).filter((i) => !/^Terminat/.test(i.LifecycleState ?? '')).length;
    if (live >= (group.DesiredCapacity ?? 0)) return undefined;
    const answer = await asg.send(
      new DescribeScalingActivitiesCommand({ AutoScalingGroupName: group.AutoScalingGroupName, MaxRecords: 1 }),
    );
    const last = answer.Activities?.[0];
    return last && (last.StatusCode === 'Failed' || last.StatusCode === 'Cancelled')
      ? (last.StatusMessage ?? last.Description ?? 'launch failed')
      : undefined;
  }

  async function toServerGroup(group: AutoScalingGroup): Promise<ServerGroup> {
    const name = group.AutoScalingGroupName!;
    const tags = Object.fromEntries((group.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
    const members = group.Instances ?? [];
    const [details, attached, failure] = await Promise.all([
      instanceDetails(members.map((i) => i.InstanceId!)),
      lbs.targetGroupNames(group.TargetGroupARNs ?? []),
      launchFailure(group),
    ]);
    const wanted = TARGET_GROUPS_TAG in tags ? splitNames(tags[TARGET_GROUPS_TAG]!) : [...attached.values()];
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
      disabled: suspended || (wanted.length > 0 && attached.size === 0),
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
      // InvalidAMIID.NotFound and .Unavailable (already deregistered) both mean gone.
      await orNothing(() => ec2.send(new DeregisterImageCommand({ ImageId: id })));
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
        const existing = await provider.getServerGroup(spec.name);
        if (!existing) return false;
        const same =
          existing.min === spec.min &&
          existing.max === spec.max &&
          existing.desired === spec.desired &&
          isDeepStrictEqual([...existing.targetGroups].sort(), [...spec.targetGroups].sort());
        if (!same) throw new ConflictError(`server group ${spec.name} exists with another spec`);
        return true;
      };
      // Looked for first as well: moto (unlike AWS) replaces an existing group instead of refusing.
      if (!(await sameAs()))
        try {
          await asg.send(
            new CreateAutoScalingGroupCommand({
              AutoScalingGroupName: spec.name,
              // Pinned: a later version of the template never changes what this group launches.
              LaunchTemplate: { LaunchTemplateName: spec.launchTemplate, Version: String(template.VersionNumber ?? 1) },
              MinSize: spec.min,
              MaxSize: spec.max,
              DesiredCapacity: spec.desired,
              VPCZoneIdentifier: options.subnets.join(','),
              ...(attach
                ? { TargetGroupARNs: arns, HealthCheckType: 'ELB', HealthCheckGracePeriod: HEALTH_CHECK_GRACE_SECONDS }
                : {}),
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
        } catch (error) {
          if (!/AlreadyExists/.test(errorName(error)) || !(await sameAs())) throw error;
        }
      // Right after a create, describing it may not find it yet.
      const created = await retryEventually(
        async () =>
          (await describeGroup(spec.name)) ??
          Promise.reject(new NotFoundError(`server group ${spec.name} not found yet`)),
        { sleep },
      );
      return toServerGroup(created);
    },

    async getServerGroup(name) {
      const group = await describeGroup(name);
      return group && group.Status !== 'Delete in progress' ? toServerGroup(group) : undefined;
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
      return Promise.all(mine.map(toServerGroup));
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
      return provider
        .getServerGroup(name)
        .then((g) => g ?? Promise.reject(new NotFoundError(`no server group ${name}`)));
    },

    async disableServerGroup(name) {
      const group = await toServerGroup(await describeGroupOrThrow(name));
      await asg.send(new SuspendProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES }));
      const ids = group.instances.map((i) => i.id);
      for (const tg of group.targetGroups) await provider.deregisterTargets(tg, ids);
      return { ...group, disabled: true };
    },

    async enableServerGroup(name) {
      const raw = await describeGroupOrThrow(name);
      const group = await toServerGroup(raw);
      // Only instances in service: a pending, standby or leaving instance must not take traffic.
      const running = group.instances.filter((i) => i.lifecycle === 'running').map((i) => i.id);
      for (const tg of group.targetGroups) await provider.registerTargets(tg, running);
      const arns = await Promise.all(group.targetGroups.map(lbs.targetGroupArn));
      const missing = arns.filter((arn) => !(raw.TargetGroupARNs ?? []).includes(arn));
      if (missing.length) {
        await asg.send(
          new AttachLoadBalancerTargetGroupsCommand({ AutoScalingGroupName: name, TargetGroupARNs: missing }),
        );
        await asg.send(
          new UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: name,
            HealthCheckType: 'ELB',
            HealthCheckGracePeriod: HEALTH_CHECK_GRACE_SECONDS,
          }),
        );
      }
      if ((raw.SuspendedProcesses ?? []).length)
        await asg.send(new ResumeProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: DISABLE_PROCESSES }));
      return { ...group, disabled: false };
    },

    async destroyServerGroup(name) {
      const group = await describeGroup(name);
      if (group && group.Status !== 'Delete in progress')
        await orNothing(() =>
          asg.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true })),
        );
      // The template goes too, also when a crash came between the two deletes (same name by convention).
      await provider.deleteLaunchTemplate(group?.LaunchTemplate?.LaunchTemplateName ?? name);
    },

    ...lbs.methods,
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

function statusOf(system: string | undefined, instance: string | undefined): InstanceStatus {
  if (system === 'ok' && instance === 'ok') return 'ok';
  if (system === 'impaired' || instance === 'impaired') return 'impaired';
  return 'initializing';
}
