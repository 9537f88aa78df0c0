import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
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
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
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
  RegisterTargetsCommand,
  SetSecurityGroupsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConflictError, NotFoundError } from '@slipway/core';
import { createAwsProvider } from './provider.js';
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
  LaunchTemplate: { LaunchTemplateName: 'search-prod-v004', Version: '$Latest' },
  MinSize: 1,
  MaxSize: 4,
  DesiredCapacity: 2,
  TargetGroupARNs: [TG_ARN],
  Instances: [
    {
      InstanceId: 'i-1',
      LifecycleState: 'InService',
      AvailabilityZone: 'eu-west-1a',
      HealthStatus: 'Healthy',
      ProtectedFromScaleIn: false,
    },
    {
      InstanceId: 'i-2',
      LifecycleState: 'Pending',
      AvailabilityZone: 'eu-west-1b',
      HealthStatus: 'Healthy',
      ProtectedFromScaleIn: false,
    },
  ],
  SuspendedProcesses: [],
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
    .on(DescribeTargetGroupsCommand, { Names: ['search'] })
    .resolves({ TargetGroups: [{ TargetGroupArn: TG_ARN, TargetGroupName: 'search' }] });
  elb
    .on(DescribeTargetGroupsCommand, { TargetGroupArns: [TG_ARN] })
    .resolves({ TargetGroups: [{ TargetGroupArn: TG_ARN, TargetGroupName: 'search' }] });
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          { InstanceId: 'i-1', PrivateIpAddress: '10.0.0.1' },
          { InstanceId: 'i-2', PrivateIpAddress: '10.0.0.2' },
        ],
      },
    ],
  });
});

describe('images', () => {
  it('reads an AMI and its tags; a missing one is undefined', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-1'] }).resolves({
      Images: [
        {
          ImageId: 'ami-1',
          CreationDate: '2026-11-01T00:00:00.000Z',
          Tags: [
            { Key: 'kind', Value: 'service' },
            { Key: 'service', Value: 'search' },
            { Key: 'version', Value: '3.14' },
            { Key: 'base_image', Value: 'ami-base' },
          ],
        },
      ],
    });
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-gone'] }).rejects(awsError('InvalidAMIID.NotFound'));
    expect(await cloud.getImage('ami-1')).toMatchObject({
      id: 'ami-1',
      kind: 'service',
      service: 'search',
      version: '3.14',
      baseImage: 'ami-base',
    });
    expect(await cloud.getImage('ami-gone')).toBeUndefined();
  });

  it('lists our own images by tag', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    await cloud.listImages({ service: 'search', kind: 'service' });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'],
      Filters: [
        { Name: 'tag:service', Values: ['search'] },
        { Name: 'tag:kind', Values: ['service'] },
      ],
    });
  });

  it('deregisters, and a gone image is fine', async () => {
    ec2.on(DeregisterImageCommand).rejects(awsError('InvalidAMIID.NotFound'));
    await cloud.deregisterImage('ami-gone');
    expect(ec2).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: 'ami-gone' });
  });
});

describe('launch templates', () => {
  const spec = {
    name: 'search-prod-v004',
    imageId: 'ami-1',
    instanceType: 't3.small',
    userData: { files: { 'application.properties': 'a=1\n' }, commands: ["echo 'hi'"] },
    securityGroups: ['sg-1'],
  };

  it('creates one with base64 user data, tagged', async () => {
    ec2.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateId: 'lt-1' } });
    const template = await cloud.createLaunchTemplate(spec);
    expect(template.id).toBe('lt-1');
    const input = ec2.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      LaunchTemplateName: 'search-prod-v004',
      LaunchTemplateData: { ImageId: 'ami-1', InstanceType: 't3.small', SecurityGroupIds: ['sg-1'] },
    });
    const script = Buffer.from(input.LaunchTemplateData!.UserData!, 'base64').toString();
    expect(script).toContain(
      `echo '${Buffer.from('a=1\n').toString('base64')}' | base64 -d > 'application.properties'`,
    );
    expect(script).toContain(`sh -c 'echo '"'"'hi'"'"''`);
  });

  it('answers the existing one for the same spec and 409 for another', async () => {
    ec2.on(CreateLaunchTemplateCommand).rejects(awsError('InvalidLaunchTemplateName.AlreadyExistsException'));
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        { LaunchTemplateId: 'lt-1', LaunchTemplateData: { ImageId: 'ami-1', InstanceType: 't3.small' } },
      ],
    });
    expect((await cloud.createLaunchTemplate(spec)).id).toBe('lt-1');
    await expect(cloud.createLaunchTemplate({ ...spec, imageId: 'ami-2' })).rejects.toThrow(ConflictError);
  });

  it('deletes, and a gone one is fine', async () => {
    ec2.on(DeleteLaunchTemplateCommand).rejects(awsError('InvalidLaunchTemplateName.NotFoundException'));
    await cloud.deleteLaunchTemplate('search-prod-v004');
    expect(ec2).toHaveReceivedCommandWith(DeleteLaunchTemplateCommand, { LaunchTemplateName: 'search-prod-v004' });
  });
});

describe('server groups', () => {
  it('creates an ASG from the launch template in the target groups, tagged like Asgard, and retries not-found right after', async () => {
    asg.on(CreateAutoScalingGroupCommand).resolves({});
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
    });
    expect(asg).toHaveReceivedCommandWith(CreateAutoScalingGroupCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      LaunchTemplate: { LaunchTemplateName: 'search-prod-v004', Version: '$Latest' },
      MinSize: 1,
      MaxSize: 4,
      DesiredCapacity: 2,
      VPCZoneIdentifier: 'subnet-a,subnet-b',
      TargetGroupARNs: [TG_ARN],
      HealthCheckType: 'ELB',
    });
    const tags = asg.commandCalls(CreateAutoScalingGroupCommand)[0]!.args[0].input.Tags!;
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: 'cluster', Value: 'search-prod', PropagateAtLaunch: true },
        { Key: 'Name', Value: 'search-prod-v004', PropagateAtLaunch: true },
      ]),
    );
    expect(sleep).toHaveBeenCalledTimes(1); // the describe that found nothing yet
    expect(created).toMatchObject({
      name: 'search-prod-v004',
      cluster: 'search-prod',
      disabled: false,
      targetGroups: ['search'],
      instances: [
        { id: 'i-1', lifecycle: 'running', address: '10.0.0.1' },
        { id: 'i-2', lifecycle: 'pending', address: '10.0.0.2' },
      ],
    });
  });

  it('is idempotent for the same spec and 409 for another', async () => {
    asg.on(CreateAutoScalingGroupCommand).rejects(awsError('AlreadyExistsFault'));
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    const spec = {
      name: 'search-prod-v004',
      launchTemplate: 'search-prod-v004',
      min: 1,
      desired: 2,
      max: 4,
      targetGroups: ['search'],
    };
    expect((await cloud.createServerGroup(spec)).name).toBe('search-prod-v004');
    await expect(cloud.createServerGroup({ ...spec, desired: 3 })).rejects.toThrow(ConflictError);
  });

  it('names a target group that does not exist', async () => {
    elb.on(DescribeTargetGroupsCommand, { Names: ['nope'] }).rejects(awsError('TargetGroupNotFoundException'));
    await expect(
      cloud.createServerGroup({
        name: 'search-prod-v004',
        launchTemplate: 'x',
        min: 1,
        desired: 1,
        max: 1,
        targetGroups: ['nope'],
      }),
    ).rejects.toThrow(NotFoundError);
    expect(asg).not.toHaveReceivedCommand(CreateAutoScalingGroupCommand);
  });

  it('disables the Asgard way: suspend Launch, Terminate, AddToLoadBalancer, then deregister', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    await cloud.disableServerGroup('search-prod-v004');
    expect(asg).toHaveReceivedCommandWith(SuspendProcessesCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      ScalingProcesses: ['Launch', 'Terminate', 'AddToLoadBalancer'],
    });
    expect(elb).toHaveReceivedCommandWith(DeregisterTargetsCommand, {
      TargetGroupArn: TG_ARN,
      Targets: [{ Id: 'i-1' }, { Id: 'i-2' }],
    });
  });

  it('enables in reverse: register, then resume', async () => {
    asg
      .on(DescribeAutoScalingGroupsCommand)
      .resolves({ AutoScalingGroups: [group({ SuspendedProcesses: [{ ProcessName: 'AddToLoadBalancer' }] })] });
    const enabledBefore = await cloud.getServerGroup('search-prod-v004');
    expect(enabledBefore?.disabled).toBe(true);
    await cloud.enableServerGroup('search-prod-v004');
    expect(elb).toHaveReceivedCommandWith(RegisterTargetsCommand, {
      TargetGroupArn: TG_ARN,
      Targets: [{ Id: 'i-1' }, { Id: 'i-2' }],
    });
    expect(asg).toHaveReceivedCommandWith(ResumeProcessesCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      ScalingProcesses: ['Launch', 'Terminate', 'AddToLoadBalancer'],
    });
  });

  it('resizes', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    await cloud.resizeServerGroup('search-prod-v004', { min: 2, desired: 3, max: 6 });
    expect(asg).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      MinSize: 2,
      MaxSize: 6,
      DesiredCapacity: 3,
    });
  });

  it('destroys with ForceDelete and the launch template; a gone group is fine', async () => {
    asg
      .on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames: ['search-prod-v004'] })
      .resolves({ AutoScalingGroups: [group()] });
    asg
      .on(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames: ['search-prod-v001'] })
      .resolves({ AutoScalingGroups: [] });
    asg.on(DeleteAutoScalingGroupCommand).resolves({});
    ec2.on(DeleteLaunchTemplateCommand).resolves({});
    await cloud.destroyServerGroup('search-prod-v004');
    expect(asg).toHaveReceivedCommandWith(DeleteAutoScalingGroupCommand, {
      AutoScalingGroupName: 'search-prod-v004',
      ForceDelete: true,
    });
    expect(ec2).toHaveReceivedCommandWith(DeleteLaunchTemplateCommand, { LaunchTemplateName: 'search-prod-v004' });
    await cloud.destroyServerGroup('search-prod-v001');
    expect(asg).toHaveReceivedCommandTimes(DeleteAutoScalingGroupCommand, 1);
  });

  it('lists a cluster by tag, oldest first, leaving groups being deleted out', async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        group({
          AutoScalingGroupName: 'search-prod-v005',
          CreatedTime: new Date('2026-11-02T00:00:00Z'),
          Instances: [],
        }),
        group({ AutoScalingGroupName: 'search-prod-v004', Instances: [] }),
        group({ AutoScalingGroupName: 'search-prod-v003', Status: 'Delete in progress', Instances: [] }),
      ],
    });
    expect((await cloud.listServerGroups('search-prod')).map((g) => g.name)).toEqual([
      'search-prod-v004',
      'search-prod-v005',
    ]);
    expect(asg).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, {
      Filters: [{ Name: 'tag:cluster', Values: ['search-prod'] }],
    });
  });

  it('backs off and retries when AWS throttles', async () => {
    asg
      .on(UpdateAutoScalingGroupCommand)
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .resolves({});
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [group()] });
    await cloud.resizeServerGroup('search-prod-v004', { min: 1, desired: 1, max: 1 });
    expect(asg).toHaveReceivedCommandTimes(UpdateAutoScalingGroupCommand, 3);
    expect(sleep).toHaveBeenCalledTimes(2);
    expect(sleep.mock.calls[1]![0]).toBeGreaterThanOrEqual(sleep.mock.calls[0]![0] / 2);
  });

  it('gives up on other errors at once', async () => {
    asg.on(UpdateAutoScalingGroupCommand).rejects(awsError('ValidationError', 'Max bound must be >= desired'));
    await expect(cloud.resizeServerGroup('search-prod-v004', { min: 1, desired: 1, max: 1 })).rejects.toThrow(
      /Max bound/,
    );
    expect(sleep).not.toHaveBeenCalled();
  });
});

describe('load balancers and targets', () => {
  it('creates the target group, its deregistration delay, the load balancer and its listener', async () => {
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: TG_ARN }] });
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});
    elb.on(CreateLoadBalancerCommand).resolves({
      LoadBalancers: [{ LoadBalancerArn: 'arn:lb', DNSName: 'search-1.eu-west-1.elb.amazonaws.com' }],
    });
    elb.on(DescribeListenersCommand).resolves({ Listeners: [] });
    elb.on(CreateListenerCommand).resolves({});
    const lb = await cloud.createLoadBalancer({
      name: 'search',
      port: 80,
      protocol: 'http',
      targetGroup: {
        name: 'search',
        healthCheck: {
          path: '/healthcheck',
          intervalSeconds: 10,
          timeoutSeconds: 5,
          healthyThreshold: 2,
          unhealthyThreshold: 3,
        },
        deregistrationDelaySeconds: 30,
      },
    });
    expect(lb.address).toBe('search-1.eu-west-1.elb.amazonaws.com');
    expect(elb).toHaveReceivedCommandWith(CreateTargetGroupCommand, {
      Name: 'search',
      Protocol: 'HTTP',
      Port: 80,
      VpcId: 'vpc-1',
      HealthCheckPath: '/healthcheck',
      HealthCheckIntervalSeconds: 10,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 3,
    });
    expect(elb).toHaveReceivedCommandWith(ModifyTargetGroupAttributesCommand, {
      TargetGroupArn: TG_ARN,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }],
    });
    expect(elb).toHaveReceivedCommandWith(CreateLoadBalancerCommand, {
      Name: 'search',
      Type: 'application',
      Subnets: ['subnet-a', 'subnet-b'],
    });
    expect(elb).toHaveReceivedCommandWith(CreateListenerCommand, {
      LoadBalancerArn: 'arn:lb',
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: TG_ARN }],
    });
  });

  it('modifies only what differs: health check, deregistration delay, listener port, security groups', async () => {
    elb.on(DescribeLoadBalancersCommand).resolves({
      LoadBalancers: [
        { LoadBalancerArn: 'arn:lb', LoadBalancerName: 'search', DNSName: 'search-1', SecurityGroups: [] },
      ],
    });
    elb.on(DescribeListenersCommand).resolves({ Listeners: [{ ListenerArn: 'arn:listener', Port: 80 }] });
    elb.on(DescribeTargetGroupsCommand).resolves({
      TargetGroups: [
        {
          TargetGroupArn: TG_ARN,
          TargetGroupName: 'search',
          HealthCheckPath: '/healthcheck',
          HealthCheckIntervalSeconds: 10,
          HealthCheckTimeoutSeconds: 5,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: 3,
        },
      ],
    });
    elb.on(DescribeTargetGroupAttributesCommand).resolves({
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }],
    });
    elb.on(ModifyTargetGroupCommand).resolves({});
    elb.on(ModifyListenerCommand).resolves({});
    elb.on(SetSecurityGroupsCommand).resolves({});
    const healthCheck = {
      path: '/ready',
      intervalSeconds: 10,
      timeoutSeconds: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    };
    await cloud.modifyLoadBalancer({
      name: 'search',
      port: 8080,
      protocol: 'http',
      securityGroups: ['sg-1'],
      targetGroup: { name: 'search', healthCheck, deregistrationDelaySeconds: 30 },
    });
    expect(elb).toHaveReceivedCommandWith(ModifyTargetGroupCommand, {
      TargetGroupArn: TG_ARN,
      HealthCheckPath: '/ready',
      HealthCheckIntervalSeconds: 10,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 3,
    });
    expect(elb).not.toHaveReceivedCommand(ModifyTargetGroupAttributesCommand); // the delay did not change
    expect(elb).toHaveReceivedCommandWith(ModifyListenerCommand, { ListenerArn: 'arn:listener', Port: 8080 });
    expect(elb).toHaveReceivedCommandWith(SetSecurityGroupsCommand, {
      LoadBalancerArn: 'arn:lb',
      SecurityGroups: ['sg-1'],
    });
  });

  it('registers and deregisters targets, and reads their health', async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: 'i-1' }, TargetHealth: { State: 'healthy' } },
        {
          Target: { Id: 'i-2' },
          TargetHealth: { State: 'draining', Description: 'Target deregistration is in progress' },
        },
        { Target: { Id: 'i-3' }, TargetHealth: { State: 'unavailable' } },
      ],
    });
    await cloud.registerTargets('search', ['i-1']);
    await cloud.deregisterTargets('search', ['i-2']);
    expect(elb).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: TG_ARN, Targets: [{ Id: 'i-1' }] });
    expect(elb).toHaveReceivedCommandWith(DeregisterTargetsCommand, {
      TargetGroupArn: TG_ARN,
      Targets: [{ Id: 'i-2' }],
    });
    expect(await cloud.describeTargetHealth('search')).toEqual([
      { instanceId: 'i-1', state: 'healthy' },
      { instanceId: 'i-2', state: 'draining', reason: 'Target deregistration is in progress' },
      { instanceId: 'i-3', state: 'unhealthy' },
    ]);
  });
});
