/**
 * The aws provider with the SDK mocked: only exact command inputs and the error paths moto
 * cannot produce (eventual consistency, "Unavailable" images, failed launches, foreign load
 * balancers). Everything else is proven against moto in contract.test.ts and aws.moto.test.ts.
 */
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  ResumeProcessesCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  DeregisterImageCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { createAwsProvider } from './provider.js';
import { awsClientConfig } from './retry.js';
import type { CloudProvider } from '../provider.js';

const ec2 = mockClient(EC2Client);
const asg = mockClient(AutoScalingClient);
const elb = mockClient(ElasticLoadBalancingV2Client);
const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/search/abc';
const sleep = jest.fn(async (_ms: number) => {});
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

  it('retries a group not found right after its create (eventual consistency)', async () => {
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
    });
    expect(created.name).toBe('search-prod-v004');
    expect(sleep).toHaveBeenCalledTimes(1);
    expect(asg).toHaveReceivedCommandWith(CreateAutoScalingGroupCommand, {
      LaunchTemplate: { LaunchTemplateName: 'search-prod-v004', Version: '3' }, // pinned, never $Latest
      TargetGroupARNs: [TG_ARN],
      HealthCheckType: 'ELB',
    });
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

  it("reads a failed launch from the group's scaling activities while it is short of instances", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    asg.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [
        {
          ActivityId: 'a-1',
          AutoScalingGroupName: 'search-prod-v004',
          Cause: 'launch',
          StartTime: new Date(),
          StatusCode: 'Failed',
          StatusMessage: 'The image id ami-1 does not exist',
        },
      ],
    });
    expect((await cloud.getServerGroup('search-prod-v004'))?.launchFailure).toBe('The image id ami-1 does not exist');
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

  it('leaves load balancers that are not ours out of the list (a network load balancer)', async () => {
    elb.on(DescribeLoadBalancersCommand).resolves({
      LoadBalancers: [{ LoadBalancerArn: 'arn:nlb', LoadBalancerName: 'someone-else', Type: 'network' }],
    });
    elb.on(DescribeListenersCommand).resolves({ Listeners: [] });
    expect(await cloud.listLoadBalancers()).toEqual([]);
  });
});
