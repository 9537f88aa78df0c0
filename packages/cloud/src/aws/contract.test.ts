import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ACMClient, RequestCertificateCommand } from '@aws-sdk/client-acm';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateImageCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  createMotoNetwork,
  eventually,
  POLICY_FILE,
  recordAwsActions,
  SLIPWAY_ACCESS_KEY,
  startMoto,
  type MotoNetwork,
  type TestMoto,
} from '@slipway/test-utils';
import { describeCloudContract } from '../contract.js';
import type { LoadBalancerSpec } from '../provider.js';
import { createAwsProvider, type AwsProviderOptions } from './provider.js';
import { putTraffic } from './moto-traffic.js';
import { readFileSync } from 'node:fs';

/**
 * The same contract as the local cloud's, against moto's server, then what only AWS has. moto's
 * known gaps, where it is laxer than AWS or does not model something (so the provider's own
 * checks refuse first, or the behaviour is proven with the SDK mocked in provider.test.ts):
 * - it replaces an existing auto scaling group instead of answering AlreadyExists;
 * - it answers a delete of a launch template that is not there with MissingParameter;
 * - it does not check that a launch template's instance profile exists, and never refuses a
 *   new one as not usable yet (provider.test.ts: the ValidationError retried);
 * - it accepts health-check intervals below 5 s and thresholds below 2 (it checks only that the
 *   timeout is below the interval), and user data over 16 KB;
 * - CopyImage makes a copy that is available at once (AWS: pending for minutes) and a new one
 *   on every call: it ignores ClientToken (baking records one copy per region itself); no image
 *   is ever pending or failed (provider.test.ts: refused in words);
 * - DeregisterImage ignores DeleteAssociatedSnapshots (provider.test.ts: the exact input);
 * - it runs no software on instances: they are "running" at once, every status check is ok and
 *   a registered target is "healthy" at once, whatever its health check path would answer; a
 *   deregistered one leaves the target group at once, never "draining" (the orchestrator's
 *   drain wait is proven against a mocked cloud);
 * - scaling activities never fail and deletes are never refused for one in progress; it never
 *   throttles, and DescribeInstanceStatus takes any number of ids (provider.test.ts); what the
 *   orchestrator does with a throttle that outlasts every retry (its waits look again) and with
 *   an old group AWS will not delete (left, said, destroyed by the next deployment) is shown
 *   against the stand-in cloud (orchestrator's actions.test.ts, "the runner");
 * - it runs no load balancer, so no traffic: the tests put the metric data CloudWatch would hold;
 * - its CloudWatch keeps no percentiles (a p99 query answers nothing): aws/traffic.test.ts reads
 *   one from aws-sdk-client-mock;
 * - it does not enforce IAM: every call is allowed, so DryRun and SimulatePrincipalPolicy
 *   answers are moto's (the policy is checked against the calls recorded here instead), and no
 *   condition is evaluated: that the Auto Scaling writes' autoscaling:ResourceTag condition holds
 *   is shown by the groups made here carrying the tag it names, that TerminateInstances' and
 *   StopInstances' (aws:ResourceTag/slipway:bake) holds by the builder real Packer launches on
 *   moto carrying that tag (baking's bake-aws.test.ts finds it by the tag), and
 *   test/aws-policy.test.ts checks that doctor's simulation is given every condition key the
 *   policy tests.
 * - it resizes a group whose Launch and Terminate are suspended (AWS does not: a disabled group
 *   is resized with them resumed, proven with the SDK mocked in provider.test.ts).
 * - a target group only a listener's weighted forward sends to (a burn-in's split,
 *   aws/traffic-split.ts) has no LoadBalancerArns (AWS names the load balancer): trafficOf counts
 *   it on the load balancer asked about, which is the same one on AWS (test/aws-traffic.test.ts),
 *   and the sweep of leftover splits reads the cluster's listeners and rules itself (it refuses
 *   deleting a target group a listener forwards to, ResourceInUse, as AWS does);
 * - DescribeTags answers a target group that is not there with no tags (AWS fails the whole call,
 *   TargetGroupNotFound: the sweep asks that call's one by one) and takes more than DescribeTags'
 *   20 resources; DescribeTargetGroups never pages (no NextMarker): the sweep's reading of every
 *   page, 20 tags a call, is shown with the SDK mocked (aws/traffic-split.test.ts), and so is a
 *   load balancer's own target group found among more than 20 (aws/provider.test.ts);
 * - it refuses DetachLoadBalancerTargetGroups with InvalidTarget when the group's instances were
 *   deregistered from that target group already (AWS detaches): the split's end detaches first.
 * - it health-checks (reads "healthy") a target group no listener action references; AWS does
 *   not (its targets are "unused", Target.NotInUse): the split puts its target group in the
 *   listener at weight 0 first (aws/traffic-split.test.ts: the exact ModifyListener, mocked);
 */
let moto: TestMoto;
let network: MotoNetwork;

beforeAll(async () => {
  moto = await startMoto();
}, 60_000);
afterAll(async () => {
  await moto.stop();
});
beforeEach(async () => {
  await moto.reset();
  network = await createMotoNetwork(moto);
});

const provider = (extra: Partial<AwsProviderOptions> = {}) =>
  createAwsProvider({ ...moto.slipway, vpcId: network.vpcId, subnets: network.subnets, ...extra });

const loadBalancer: LoadBalancerSpec = {
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
      unhealthyThreshold: 2,
    },
    deregistrationDelaySeconds: 30,
  },
};

describe('aws provider against moto: the provider contract', () => {
  describeCloudContract(() => ({
    provider: () => provider(),
    imageId: network.imageId,
    securityGroup: network.securityGroup,
    instanceProfile: 'search-instance',
    loadBalancer,
    sendTraffic: (lb, _group, requests) =>
      putTraffic(moto, lb.targetGroup.name, { RequestCount: requests, HTTPCode_Target_2XX_Count: requests }),
    eventually,
  }));
});

describe('aws provider against moto: what only AWS has', () => {
  const clients = () => ({
    ec2: new EC2Client(moto.client),
    asg: new AutoScalingClient(moto.client),
    elb: new ElasticLoadBalancingV2Client(moto.client),
  });
  const template = (name: string) => ({
    name,
    imageId: network.imageId,
    instanceType: 't3.small',
    userData: { files: { 'application.properties': 'a=1\n' }, commands: [] },
  });

  it('launches with IMDSv2 only (a session token, one hop)', async () => {
    await provider().createLaunchTemplate(template('search-prod-v001'));
    const { ec2 } = clients();
    const version = (
      await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'search-prod-v001' }))
    ).LaunchTemplateVersions![0]!;
    expect(version.LaunchTemplateData?.MetadataOptions).toEqual({
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 1,
      HttpEndpoint: 'enabled',
    });
  });

  it('judges a group by EC2 and its grace period until its targets were first healthy, then by the load balancer', async () => {
    const cloud = provider({ describeEveryMs: 0 });
    await cloud.createLoadBalancer(loadBalancer);
    await cloud.createLaunchTemplate(template('search-prod-v001'));
    const spec = { name: 'search-prod-v001', launchTemplate: 'search-prod-v001', min: 1, desired: 2, max: 2 };
    await cloud.createServerGroup({
      ...spec,
      targetGroups: ['search'],
      disabled: true,
      healthCheckGracePeriodSeconds: 240,
    });
    const { asg } = clients();
    const described = async () =>
      (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['search-prod-v001'] })))
        .AutoScalingGroups![0]!;
    expect(await described()).toMatchObject({ HealthCheckType: 'EC2', HealthCheckGracePeriod: 240 });
    // The documented policy lets the role change only groups carrying this tag (autoscaling:ResourceTag).
    const policy = JSON.parse(readFileSync(POLICY_FILE, 'utf8')) as { Statement: { Condition?: object }[] };
    const required = policy.Statement.flatMap((s) => Object.values(s.Condition ?? {}).flatMap(Object.keys))
      .filter((key) => key.startsWith('autoscaling:ResourceTag/'))
      .map((key) => key.slice('autoscaling:ResourceTag/'.length));
    expect(required).toEqual(['slipway:launch-template']);
    expect((await described()).Tags?.map((t) => t.Key)).toEqual(expect.arrayContaining(required));
    await eventually(
      () => cloud.getServerGroup('search-prod-v001'),
      (g) => g?.instances.filter((i) => i.lifecycle === 'running').length === 2,
      'two running',
    );
    await cloud.enableServerGroup('search-prod-v001');
    // Taking traffic is not yet healthy: a slow starter must not be replaced in a loop.
    expect(await described()).toMatchObject({ HealthCheckType: 'EC2', HealthCheckGracePeriod: 240 });
    const health = await cloud.describeTargetHealth('search'); // moto: healthy at once
    expect(health.map((t) => t.state)).toEqual(['healthy', 'healthy']);
    expect(await described()).toMatchObject({ HealthCheckType: 'ELB', HealthCheckGracePeriod: 240 });
  });

  it('disables by also suspending health checks, replacement and rebalancing: the instances stay as they are', async () => {
    const cloud = provider();
    await cloud.createLaunchTemplate(template('search-prod-v001'));
    await cloud.createServerGroup({
      name: 'search-prod-v001',
      launchTemplate: 'search-prod-v001',
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: [],
    });
    await cloud.disableServerGroup('search-prod-v001');
    const { asg } = clients();
    const group = (
      await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['search-prod-v001'] }))
    ).AutoScalingGroups![0]!;
    expect((group.SuspendedProcesses ?? []).map((p) => p.ProcessName).sort()).toEqual([
      'AZRebalance',
      'AddToLoadBalancer',
      'HealthCheck',
      'Launch',
      'ReplaceUnhealthy',
      'Terminate',
    ]);
    await cloud.enableServerGroup('search-prod-v001');
    const again = (
      await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['search-prod-v001'] }))
    ).AutoScalingGroups![0]!;
    expect(again.SuspendedProcesses ?? []).toEqual([]);
  });

  it('answers every poll of a tick from one describe of the region, however many groups are polled', async () => {
    const cloud = provider({ describeEveryMs: 60_000 });
    for (const name of ['search-prod-v001', 'search-staging-v001', 'suggest-prod-v001']) {
      await cloud.createLaunchTemplate(template(name));
      await cloud.createServerGroup({ name, launchTemplate: name, min: 1, desired: 1, max: 1, targetGroups: [] });
    }
    const before = (await moto.calls()).length;
    for (let poll = 0; poll < 10; poll++)
      await Promise.all(
        ['search-prod-v001', 'search-staging-v001', 'suggest-prod-v001'].map((name) => cloud.getServerGroup(name)),
      );
    const calls = (await moto.calls())
      .slice(before)
      .filter((c) => c.accessKeyId === SLIPWAY_ACCESS_KEY)
      .map((c) => c.action);
    expect(calls.sort()).toEqual([
      'autoscaling:DescribeAutoScalingGroups',
      'ec2:DescribeInstanceStatus',
      'ec2:DescribeInstances',
    ]);
  });

  it('puts a load balancer in its own subnets, internal, with HTTPS on an ACM certificate and HTTP redirected to it', async () => {
    const { ec2, elb } = clients();
    const lbSubnets: string[] = [];
    for (const [i, zone] of ['a', 'b'].entries())
      lbSubnets.push(
        (
          await ec2.send(
            new CreateSubnetCommand({
              VpcId: network.vpcId,
              CidrBlock: `10.0.${i + 11}.0/24`,
              AvailabilityZone: `${moto.region}${zone}`,
            }),
          )
        ).Subnet!.SubnetId!,
      );
    const acm = new ACMClient(moto.client);
    const certificateArn = (await acm.send(new RequestCertificateCommand({ DomainName: 'search.example.com' })))
      .CertificateArn!;
    const cloud = provider({ loadBalancerSubnets: lbSubnets });
    await cloud.createLoadBalancer({ ...loadBalancer, scheme: 'internal', certificateArn });
    const lb = (await elb.send(new DescribeLoadBalancersCommand({ Names: ['search'] }))).LoadBalancers![0]!;
    expect(lb.Scheme).toBe('internal');
    expect((lb.AvailabilityZones ?? []).map((z) => z.SubnetId).sort()).toEqual([...lbSubnets].sort());
    const listeners = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn })))
      .Listeners!;
    const https = listeners.find((l) => l.Protocol === 'HTTPS');
    const http = listeners.find((l) => l.Protocol === 'HTTP');
    expect(https).toMatchObject({
      Port: 443,
      Certificates: [{ CertificateArn: certificateArn }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      DefaultActions: [expect.objectContaining({ Type: 'forward' })],
    });
    expect(http).toMatchObject({
      Port: 80,
      DefaultActions: [
        expect.objectContaining({
          Type: 'redirect',
          RedirectConfig: expect.objectContaining({ Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' }),
        }),
      ],
    });
    expect(await cloud.getLoadBalancer('search')).toMatchObject({ scheme: 'internal', certificateArn, port: 80 });
    // HTTPS moved to another port: HTTP redirects to the new one.
    await cloud.modifyLoadBalancer({ ...loadBalancer, scheme: 'internal', certificateArn, httpsPort: 8443 });
    const moved = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners!;
    expect(moved.find((l) => l.Protocol === 'HTTPS')?.Port).toBe(8443);
    expect(moved.find((l) => l.Protocol === 'HTTP')?.DefaultActions?.[0]?.RedirectConfig).toMatchObject({
      Protocol: 'HTTPS',
      Port: '8443',
    });
    // Without the certificate: the HTTPS listener goes, HTTP forwards again.
    await cloud.modifyLoadBalancer({ ...loadBalancer, scheme: 'internal' });
    const after = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners!;
    expect(after.map((l) => [l.Protocol, l.DefaultActions?.[0]?.Type])).toEqual([['HTTP', 'forward']]);
    await expect(cloud.modifyLoadBalancer(loadBalancer)).rejects.toThrow(/scheme cannot change in place/);
  });

  it('names a network for a bake builder: a subnet of the VPC, reachable from the VPC only', async () => {
    expect(await provider().builderNetwork!()).toEqual({
      vpcId: network.vpcId,
      subnetId: network.subnets[0],
      sourceCidr: '10.0.0.0/16',
    });
  });

  it("sweeps what a stopped bake left: its builder, the builder's temporary group and key pair, a half-made image", async () => {
    const { ec2 } = clients();
    await ec2.send(new CreateKeyPairCommand({ KeyName: 'packer_5f2c' }));
    const group = (
      await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: 'packer_5f2c',
          Description: 'Temporary group for Packer',
          VpcId: network.vpcId,
        }),
      )
    ).GroupId!;
    const run = async (bake: string) =>
      (
        await ec2.send(
          new RunInstancesCommand({
            ImageId: network.imageId,
            MinCount: 1,
            MaxCount: 1,
            KeyName: 'packer_5f2c',
            SubnetId: network.subnets[0],
            SecurityGroupIds: [group],
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'slipway:bake', Value: bake }] }],
          }),
        )
      ).Instances![0]!.InstanceId!;
    const builder = await run('bake-5f2c');
    const another = await run('bake-other'); // another bake's, running on
    const image = (await ec2.send(new CreateImageCommand({ InstanceId: builder, Name: 'search-1.0.0-img-5f2c' })))
      .ImageId!;
    const removed = await provider().sweepBake!({ runTag: 'bake-5f2c', imageName: 'search-1.0.0-img-5f2c' });
    expect(removed).toEqual([`instance ${builder}`, `security group ${group}`, `image ${image}`]);
    const state = async (id: string) =>
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.State
        ?.Name;
    expect(await state(builder)).toBe('terminated');
    expect(await state(another)).toBe('running');
    const groups = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [] }))).SecurityGroups ?? [];
    expect(groups.map((g) => g.GroupId)).not.toContain(group);
    expect((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).toEqual([]);
    expect(
      (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images?.map((i) => i.ImageId),
    ).not.toContain(image);
    // Twice is fine: nothing left to sweep.
    expect(await provider().sweepBake!({ runTag: 'bake-5f2c', imageName: 'search-1.0.0-img-5f2c' })).toEqual([]);
  });
});

describe('what the code asks of AWS', () => {
  it('is all in the documented IAM policy (templates/aws/iam-policy.json)', async () => {
    const { used, missing } = await recordAwsActions(moto, 'cloud-contract');
    expect(used.length).toBeGreaterThan(0);
    // A new call: run the AWS tests, then node scripts/aws-policy.mjs (it adds the action to the policy).
    expect(missing).toEqual([]);
  });
});
