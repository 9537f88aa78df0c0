/**
 * The aws provider with the SDK mocked: only exact command inputs and the error paths moto
 * cannot produce (eventual consistency, "Unavailable" and pending images, failed launches,
 * throttling, foreign load balancers, a delete refused while a scaling activity runs).
 * Everything else is proven against moto in contract.test.ts and test/aws-moto.test.ts; the list
 * of moto's gaps is in contract.test.ts.
 */
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AttachLoadBalancerTargetGroupsCommand,
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  ResumeProcessesCommand,
  UpdateAutoScalingGroupCommand,
  type Activity,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  ModifyImageAttributeCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { createAwsProvider } from './provider.js';
import { awsClientConfig, isTransient } from './retry.js';
import type { CloudProvider } from '../provider.js';

const ec2 = mockClient(EC2Client);
const asg = mockClient(AutoScalingClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/search/abc';
const sleep = jest.fn(async (_ms: number) => {});
const clock = { at: Date.parse('2026-11-01T12:00:00Z'), now: () => clock.at };
let cloud: CloudProvider;

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

const group = (overrides: Partial<AutoScalingGroup> = {}): AutoScalingGroup => ({
  AutoScalingGroupName: 'search-prod-v004',
  DefaultCooldown: 300,
  AvailabilityZones: ['eu-west-1a'],
  HealthCheckType: 'ELB',
  LaunchTemplate: { LaunchTemplateName: 'search-prod-v004', Version: '1' },
  MinSize: 1,
  MaxSize: 4,
  DesiredCapacity: 2,
  TargetGroupARNs: [TG_ARN],
  Instances: [],
  Tags: [{ Key: 'cluster', Value: 'search-prod' }],
  CreatedTime: new Date('2026-11-01T00:00:00Z'),
  ...overrides,
});

beforeEach(() => {
  ec2.reset();
  asg.reset();
  elb.reset();
  sleep.mockClear();
  cloud = createAwsProvider({
    region: 'eu-west-1',
    subnets: ['subnet-a', 'subnet-b'],
    vpcId: 'vpc-1',
    ec2: new EC2Client({ region: 'eu-west-1' }),
    autoScaling: new AutoScalingClient({ region: 'eu-west-1' }),
    elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
    sleep,
    clock,
  });
  elb
    .on(DescribeTargetGroupsCommand)
    .resolves({ TargetGroups: [{ TargetGroupArn: TG_ARN, TargetGroupName: 'search' }] });
  ec2.on(DescribeInstanceStatusCommand).resolves({ InstanceStatuses: [] });
  asg.on(DescribeScalingActivitiesCommand).resolves({ Activities: [] });
});

describe('retries', () => {
  it('leaves throttling and transient errors to the SDK: adaptive mode, five attempts', () => {
    expect(awsClientConfig({ region: 'eu-west-1' })).toMatchObject({ retryMode: 'adaptive', maxAttempts: 5 });
  });

  it('tells a transient error (a throttle past the SDK, a 5xx, the network, a cloud that is away) from an answer', () => {
    const named = (name: string, message = '') => Object.assign(new Error(message), { name });
    expect(isTransient(named('ThrottlingException', 'Rate exceeded'))).toBe(true);
    expect(isTransient(named('RequestLimitExceeded'))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }))).toBe(true);
    expect(
      isTransient(new TypeError('fetch failed', { cause: Object.assign(new Error(), { code: 'ECONNREFUSED' }) })),
    ).toBe(true);
    expect(isTransient(named('ServiceUnavailableError', 'the cloud is restarting'))).toBe(true);
    expect(isTransient(named('AccessDenied', 'not authorized'))).toBe(false);
    expect(isTransient(named('ValidationError', 'bad input'))).toBe(false);
  });

  it('retries a group not found right after its create (eventual consistency), with EC2 health checks and the grace asked for', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ VersionNumber: 3 }] });
    asg.on(CreateAutoScalingGroupCommand).resolves({});
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({ AutoScalingGroups: [] }) // before the create: none
      .resolvesOnce({ AutoScalingGroups: [] }) // right after: not yet
      .resolves({ AutoScalingGroups: [group()] });
    const created = await cloud.createServerGroup({
      name: 'search-prod-v004',
      launchTemplate: 'search-prod-v004',
      min: 1,
      desired: 2,
      max: 4,
      targetGroups: ['search'],
      healthCheckGracePeriodSeconds: 240,
    });
    expect(created.name).toBe('search-prod-v004');
    expect(sleep).toHaveBeenCalledTimes(1);
    expect(asg).toHaveReceivedCommandWith(CreateAutoScalingGroupCommand, {
      LaunchTemplate: { LaunchTemplateName: 'search-prod-v004', Version: '3' }, // pinned, never $Latest
      TargetGroupARNs: [TG_ARN],
      // Judged by the load balancer only once its targets were first healthy (the moto tests show the switch).
      HealthCheckType: 'EC2',
      HealthCheckGracePeriod: 240,
    });
  });

  it('retries the create while a new instance profile is not usable yet (IAM catching up)', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ VersionNumber: 1 }] });
    asg
      .on(CreateAutoScalingGroupCommand)
      .rejectsOnce(awsError('ValidationError', 'Invalid IAM Instance Profile name'))
      .rejectsOnce(awsError('ValidationError', 'Invalid IAM Instance Profile name'))
      .resolves({});
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce({ AutoScalingGroups: [] })
      .resolves({ AutoScalingGroups: [group()] });
    const created = await cloud.createServerGroup({
      name: 'search-prod-v004',
      launchTemplate: 'search-prod-v004',
      min: 1,
      desired: 2,
      max: 4,
      targetGroups: ['search'],
      disabled: true,
    });
    expect(created.name).toBe('search-prod-v004');
    expect(asg).toHaveReceivedCommandTimes(CreateAutoScalingGroupCommand, 3);
  });

  it('still gives up at once on any other ValidationError', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ VersionNumber: 1 }] });
    asg.on(CreateAutoScalingGroupCommand).rejects(awsError('ValidationError', 'Max bound, 4, must be >= desired'));
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    const spec = { name: 'search-prod-v004', launchTemplate: 'search-prod-v004', min: 1, desired: 9, max: 4 };
    await expect(cloud.createServerGroup({ ...spec, targetGroups: [] })).rejects.toThrow(/Max bound/);
    expect(asg).toHaveReceivedCommandTimes(CreateAutoScalingGroupCommand, 1);
  });

  it('retries deleting a group while a scaling activity is in progress, or AWS throttles', async () => {
    // destroy-old-groups runs after the new group took traffic: a transient error must not roll it back.
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .resolves({ AutoScalingGroups: [group()] });
    asg
      .on(DeleteAutoScalingGroupCommand)
      .rejectsOnce(
        awsError(
          'ScalingActivityInProgress',
          'You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.',
        ),
      )
      .rejectsOnce(awsError('ResourceInUse', 'in use'))
      .resolves({});
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
    await cloud.destroyServerGroup('search-prod-v004');
    expect(asg).toHaveReceivedCommandTimes(DeleteAutoScalingGroupCommand, 3);
  });

  it("retries attaching a target group just made (a burn-in's split) while AWS does not know it yet (ValidationError)", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [group({ TargetGroupARNs: [], Tags: [{ Key: 'slipway:target-groups', Value: 'search' }] })],
    });
    asg
      .on(AttachLoadBalancerTargetGroupsCommand)
      .rejectsOnce(awsError('ValidationError', `Provided Target Groups may not be valid: ${TG_ARN}`))
      .resolves({});
    asg.on(ResumeProcessesCommand).resolves({});
    await cloud.enableServerGroup('search-prod-v004');
    expect(asg).toHaveReceivedCommandTimes(AttachLoadBalancerTargetGroupsCommand, 2);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('gives up on other errors at once', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('UnauthorizedOperation', 'You are not authorized'));
    await expect(cloud.deregisterImage('ami-1')).rejects.toThrow(/not authorized/);
    expect(sleep).not.toHaveBeenCalled();
  });
});

describe('what moto does not produce', () => {
  it('resumes Launch and Terminate of a disabled group it resizes (moto resizes regardless), never AddToLoadBalancer', async () => {
    const suspended = ['Launch', 'Terminate', 'AddToLoadBalancer'].map((ProcessName) => ({ ProcessName }));
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .resolves({ AutoScalingGroups: [group({ SuspendedProcesses: suspended })] });
    await cloud.resizeServerGroup('search-prod-v004', { min: 0, desired: 0, max: 4 });
    expect(asg).toHaveReceivedCommandWith(ResumeProcessesCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      ScalingProcesses: ['Launch', 'Terminate'],
    });
    expect(asg).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      MinSize: 0,
      DesiredCapacity: 0,
      MaxSize: 4,
    });
    asg.resetHistory();
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    await cloud.resizeServerGroup('search-prod-v004', { min: 1, desired: 2, max: 4 });
    expect(asg).not.toHaveReceivedCommand(ResumeProcessesCommand);
  });

  it('takes an image already deregistered (InvalidAMIID.Unavailable) as gone', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('InvalidAMIID.Unavailable'));
    await cloud.deregisterImage('ami-1');
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: 'ami-1' });
  });

  it('deregisters an image with its snapshots (moto ignores DeleteAssociatedSnapshots)', async () => {
    ec2.on(DeregisterImageCommand).resolves({});
    await cloud.deregisterImage('ami-1');
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, {
      ImageId: 'ami-1',
      DeleteAssociatedSnapshots: true,
    });
  });

  it('warns naming the snapshots DeregisterImage could not delete (they stay, and are billed)', async () => {
    const warn = jest.fn();
    const logged = createAwsProvider({
      region: 'eu-west-1',
      subnets: ['subnet-a'],
      vpcId: 'vpc-1',
      ec2: new EC2Client({ region: 'eu-west-1' }),
      autoScaling: new AutoScalingClient({ region: 'eu-west-1' }),
      elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
      logger: { warn },
      sleep,
      clock,
    });
    ec2.on(DeregisterImageCommand).resolves({
      Return: true,
      DeleteSnapshotResults: [
        { SnapshotId: 'snap-1', ReturnCode: 'success' },
        { SnapshotId: 'snap-2', ReturnCode: 'client-error' },
      ],
    });
    await logged.deregisterImage('ami-1');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]).toEqual([
      { imageId: 'ami-1', snapshots: [{ snapshotId: 'snap-2', returnCode: 'client-error' }] },
      expect.stringMatching(/snapshots? of ami-1 not deleted: snap-2/),
    ]);
    warn.mockClear();
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-2' }] });
    ec2.on(DeregisterImageCommand).resolves({
      DeleteSnapshotResults: [{ SnapshotId: 'snap-3', ReturnCode: 'skipped' }],
    });
    await logged.sweepBake!({ runTag: 'bake-1', imageName: 'search-1.0.0-img-1' });
    expect(warn.mock.calls[0]?.[1]).toMatch(/ami-2 not deleted: snap-3/);
  });

  it('marks a baked image IMDSv2-only (moto keeps no ImdsSupport): its instances, and the next bake on it, require tokens', async () => {
    ec2.on(ModifyImageAttributeCommand).resolves({});
    await cloud.requireImdsV2!('ami-1');
    expect(ec2).toHaveReceivedCommandWith(ModifyImageAttributeCommand, {
      ImageId: 'ami-1',
      ImdsSupport: { Value: 'v2.0' },
    });
  });

  it('refuses a pending image (a copy still being made) and a failed one, in words, before making a template', async () => {
    const spec = {
      name: 'search-prod-v004',
      imageId: 'ami-1',
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    };
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-1', State: 'pending' }] });
    await expect(cloud.createLaunchTemplate(spec)).rejects.toThrow(
      'image ami-1 in eu-west-1 is still pending (a copy takes minutes): deploy once it is available',
    );
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-1', State: 'failed', StateReason: { Code: 'x', Message: 'copy failed' } }],
    });
    await expect(cloud.createLaunchTemplate(spec)).rejects.toThrow(
      'image ami-1 in eu-west-1 is failed (copy failed): it cannot be launched; copy or bake it again',
    );
    expect(ec2).not.toHaveReceivedCommand(CreateLaunchTemplateCommand);
    expect(await cloud.getImage('ami-1')).toMatchObject({ id: 'ami-1', state: 'failed', stateReason: 'copy failed' });
  });

  const activity = (secondsAgo: number, StatusCode: Activity['StatusCode']): Activity => ({
    ActivityId: `a-${secondsAgo}`,
    AutoScalingGroupName: 'search-prod-v004',
    Cause: 'launch',
    StartTime: new Date(clock.at - secondsAgo * 1000),
    StatusCode,
    StatusMessage: 'The image id ami-1 does not exist',
  });

  it("reports a failed launch from the group's scaling activities only once every launch failed for two minutes", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    // Auto Scaling retries a launch itself (another zone, a profile not usable yet): one failure is not the end.
    asg.on(DescribeScalingActivitiesCommand).resolves({ Activities: [activity(10, 'Failed')] });
    expect((await cloud.getServerGroup('search-prod-v004'))?.launchFailure).toBeUndefined();
    clock.at += 60_000; // a new tick
    asg.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [activity(5, 'Failed'), activity(100, 'Successful'), activity(200, 'Failed')],
    });
    expect((await cloud.getServerGroup('search-prod-v004'))?.launchFailure).toBeUndefined();
    clock.at += 60_000;
    asg.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [activity(5, 'Failed'), activity(60, 'Failed'), activity(130, 'Cancelled')],
    });
    expect((await cloud.getServerGroup('search-prod-v004'))?.launchFailure).toBe(
      'The image id ami-1 does not exist (every launch for 130 s)',
    );
  });

  it('counts Standby and Detaching instances as not running, and judges EC2 status checks', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        group({
          DesiredCapacity: 3,
          Instances: ['InService', 'Standby', 'Detaching'].map((LifecycleState, n) => ({
            InstanceId: `i-${n}`,
            LifecycleState: LifecycleState as never,
            AvailabilityZone: 'eu-west-1a',
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: false,
          })),
        }),
      ],
    });
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            { InstanceId: 'i-0', PrivateIpAddress: '10.0.0.1', LaunchTime: new Date('2026-11-01T00:00:00Z') },
          ],
        },
      ],
    });
    ec2.on(DescribeInstanceStatusCommand).resolves({
      InstanceStatuses: [{ InstanceId: 'i-0', SystemStatus: { Status: 'ok' }, InstanceStatus: { Status: 'impaired' } }],
    });
    const found = await cloud.getServerGroup('search-prod-v004');
    expect(found?.instances).toEqual([
      {
        id: 'i-0',
        lifecycle: 'running',
        address: '10.0.0.1:8080',
        launchedAt: '2026-11-01T00:00:00.000Z',
        status: 'impaired',
      },
      { id: 'i-1', lifecycle: 'pending', launchedAt: '' },
      { id: 'i-2', lifecycle: 'terminating', launchedAt: '' },
    ]);
  });

  it("lists every cluster though AWS throttles one target group's health past the SDK's retries: that group's health is unknown, the rest answered", async () => {
    const OTHER_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/other/def';
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        group(),
        group({
          AutoScalingGroupName: 'other-prod-v001',
          TargetGroupARNs: [OTHER_ARN],
          Tags: [{ Key: 'cluster', Value: 'other-prod' }],
        }),
      ],
    });
    elb
      .on(DescribeTargetGroupsCommand, { Names: ['other'] })
      .resolves({ TargetGroups: [{ TargetGroupArn: OTHER_ARN, TargetGroupName: 'other' }] });
    elb
      .on(DescribeTargetHealthCommand, { TargetGroupArn: TG_ARN })
      .rejects(awsError('ThrottlingException', 'Rate exceeded'))
      .on(DescribeTargetHealthCommand, { TargetGroupArn: OTHER_ARN })
      .resolves({ TargetHealthDescriptions: [] });
    const listing = await cloud.describeClusters!();
    expect(listing.groups.map((g) => g.name)).toEqual(['search-prod-v004', 'other-prod-v001']);
    expect(Object.keys(listing.targetHealth)).toEqual(['other']);
  });

  it('describes more than 100 instances in batches of at most 100 ids, by filter', async () => {
    const ids = Array.from({ length: 150 }, (_, n) => `i-${String(n).padStart(4, '0')}`);
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        group({
          DesiredCapacity: 150,
          MaxSize: 150,
          Instances: ids.map((InstanceId) => ({
            InstanceId,
            LifecycleState: 'InService',
            AvailabilityZone: 'eu-west-1a',
            HealthStatus: 'Healthy',
            ProtectedFromScaleIn: false,
          })),
        }),
      ],
    });
    ec2
      .on(DescribeInstancesCommand)
      .callsFake(async (input: { InstanceIds?: string[]; Filters?: { Values: string[] }[] }) => ({
        Reservations: [
          { Instances: (input.InstanceIds ?? input.Filters![0]!.Values).map((InstanceId) => ({ InstanceId })) },
        ],
      }));
    ec2.on(DescribeInstanceStatusCommand).callsFake(async (input: { InstanceIds: string[] }) => {
      if (input.InstanceIds.length > 100) throw awsError('InvalidParameterValue', 'at most 100 ids');
      return {
        InstanceStatuses: input.InstanceIds.map((InstanceId) => ({
          InstanceId,
          SystemStatus: { Status: 'ok' },
          InstanceStatus: { Status: 'ok' },
        })),
      };
    });
    const found = await cloud.getServerGroup('search-prod-v004');
    expect(found?.instances.filter((i) => i.status === 'ok')).toHaveLength(150);
    expect(ec2).toHaveReceivedCommandTimes(DescribeInstanceStatusCommand, 2);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-id', Values: ids.slice(0, 100) }],
    });
  });

  it('takes an instance not known yet to DescribeInstanceStatus as not reported, not as an error', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        group({
          Instances: [
            {
              InstanceId: 'i-0',
              LifecycleState: 'InService',
              AvailabilityZone: 'eu-west-1a',
              HealthStatus: 'Healthy',
              ProtectedFromScaleIn: false,
            },
          ],
        }),
      ],
    });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0' }] }] });
    ec2
      .on(DescribeInstanceStatusCommand)
      .rejects(awsError('InvalidInstanceID.NotFound', "The instance ID 'i-0' does not exist"));
    const found = await cloud.getServerGroup('search-prod-v004');
    expect(found?.instances).toEqual([{ id: 'i-0', lifecycle: 'running', launchedAt: '' }]);
  });

  it('serves the last snapshot while AWS throttles, and describes less often meanwhile', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    expect((await cloud.getServerGroup('search-prod-v004'))?.desired).toBe(2);
    asg.on(DescribeAutoScalingGroupsCommand).rejects(awsError('Throttling', 'Rate exceeded'));
    clock.at += 2_500; // the next tick
    // What AWS said a moment ago stands: one throttle (after the SDK's own retries) does not end a deployment.
    expect((await cloud.getServerGroup('search-prod-v004'))?.desired).toBe(2);
    const asked = asg.commandCalls(DescribeAutoScalingGroupsCommand).length;
    clock.at += 2_500; // a tick at the normal pace, but the region backs off to 4 s
    await cloud.getServerGroup('search-prod-v004');
    expect(asg.commandCalls(DescribeAutoScalingGroupsCommand)).toHaveLength(asked);
    clock.at += 2_000;
    await cloud.getServerGroup('search-prod-v004');
    expect(asg.commandCalls(DescribeAutoScalingGroupsCommand)).toHaveLength(asked + 1);
  });

  it('describes once a tick whatever number of deployments poll, and again right after its own write', async () => {
    const groups = ['search-prod-v004', 'search-staging-v001', 'suggest-prod-v002'].map((name) =>
      group({ AutoScalingGroupName: name, LaunchTemplate: { LaunchTemplateName: name, Version: '1' } }),
    );
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: groups });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    for (let poll = 0; poll < 5; poll++)
      await Promise.all(groups.map((g) => cloud.getServerGroup(g.AutoScalingGroupName!)));
    expect(asg).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 1);
    expect(asg).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, {
      Filters: [{ Name: 'tag-key', Values: ['slipway:launch-template'] }],
    });
    asg.on(DeleteAutoScalingGroupCommand).resolves({});
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [] });
    await cloud.destroyServerGroup('suggest-prod-v002'); // one describe by name for the delete
    await cloud.getServerGroup('search-prod-v004');
    expect(asg).toHaveReceivedCommandTimes(DescribeAutoScalingGroupsCommand, 3);
  });

  it("finds a load balancer's own target group among its users' (more than DescribeTags' 20; moto takes any number)", async () => {
    const arnOf = (name: string) => `arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/${name}/1`;
    // Its own and a burn-in's split in the listener's default forward; 24 more sent paths by rules.
    const names = [...Array.from({ length: 24 }, (_, i) => `paths-${i}`), 'search-prod-v004', 'search'];
    elb
      .on(DescribeLoadBalancersCommand)
      .resolves({ LoadBalancers: [{ LoadBalancerArn: 'arn:alb', LoadBalancerName: 'search', Type: 'application' }] })
      .on(DescribeListenersCommand)
      .resolves({
        Listeners: [
          {
            Protocol: 'HTTP',
            Port: 80,
            DefaultActions: [
              {
                Type: 'forward',
                ForwardConfig: {
                  TargetGroups: [
                    { TargetGroupArn: arnOf('search'), Weight: 1 },
                    { TargetGroupArn: arnOf('search-prod-v004'), Weight: 1 },
                  ],
                },
              },
            ],
          },
        ],
      })
      .on(DescribeTargetGroupsCommand)
      .resolves({ TargetGroups: names.map((n) => ({ TargetGroupName: n, TargetGroupArn: arnOf(n) })) })
      .on(DescribeTargetGroupAttributesCommand)
      .resolves({ Attributes: [] })
      .on(DescribeTagsCommand)
      .callsFake(({ ResourceArns = [] }: { ResourceArns?: string[] }) => {
        if (ResourceArns.length > 20) throw awsError('ValidationError', 'You can specify up to 20 resources');
        return {
          TagDescriptions: ResourceArns.map((ResourceArn) => ({
            ResourceArn,
            Tags: ResourceArn.includes('/search-prod-v004/') ? [{ Key: 'slipway:split-of', Value: 'search' }] : [],
          })),
        };
      });
    expect((await cloud.getLoadBalancer('search'))?.targetGroup.name).toBe('search');
  });

  it('leaves load balancers that are not ours out of the list (a network load balancer)', async () => {
    elb.on(DescribeLoadBalancersCommand).resolves({
      LoadBalancers: [{ LoadBalancerArn: 'arn:nlb', LoadBalancerName: 'someone-else', Type: 'network' }],
    });
    elb.on(DescribeListenersCommand).resolves({ Listeners: [] });
    expect(await cloud.listLoadBalancers()).toEqual([]);
  });
});
