import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import {
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  type DescribeTargetGroupsCommandInput,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { createMotoNetwork, startMoto, type MotoNetwork, type TestMoto } from '@slipway/test-utils';
import type { CloudProvider, LoadBalancerSpec, ServerGroup } from '../provider.js';
import { putTraffic } from './moto-traffic.js';
import { createAwsProvider } from './provider.js';
import { awsTraffic } from './traffic.js';

/**
 * trafficOf on AWS: CloudWatch's ALB metrics per target group, against moto with the metric data
 * an ALB would publish put into its CloudWatch. moto's gaps here (see also contract.test.ts): it
 * runs no load balancer (no traffic of its own) and keeps no percentiles, so the p99 is read from
 * aws-sdk-client-mock, which also shows the exact query.
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
}, 60_000);

const spec = (name: string, port: number): LoadBalancerSpec => ({
  name,
  port,
  protocol: 'http',
  targetGroup: {
    name,
    healthCheck: {
      path: '/healthcheck',
      intervalSeconds: 10,
      timeoutSeconds: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
    },
    deregistrationDelaySeconds: 30,
  },
});

async function withGroups(cloud: CloudProvider, groups: Record<string, string>): Promise<void> {
  for (const [name, targetGroup] of Object.entries(groups)) {
    await cloud.createLaunchTemplate({
      name,
      imageId: network.imageId,
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
    await cloud.createServerGroup({
      name,
      launchTemplate: name,
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: [targetGroup],
    });
  }
}

const provider = (cloudWatch?: CloudWatchClient) =>
  createAwsProvider({
    ...moto.client,
    vpcId: network.vpcId,
    subnets: network.subnets,
    ...(cloudWatch ? { cloudWatch } : {}),
  });

describe('aws trafficOf against moto', () => {
  it("tells the new group from the old by each one's own target group", async () => {
    const cloud = provider();
    await cloud.createLoadBalancer(spec('search', 80));
    await cloud.createLoadBalancer(spec('search-burnin', 81));
    await withGroups(cloud, { 'search-prod-v001': 'search', 'search-prod-v002': 'search-burnin' });
    const since = new Date();
    await putTraffic(moto, 'search', {
      RequestCount: 1180,
      HTTPCode_Target_2XX_Count: 1178,
      HTTPCode_Target_5XX_Count: 2,
    });
    await putTraffic(moto, 'search-burnin', {
      RequestCount: 1204,
      HTTPCode_Target_2XX_Count: 1199,
      HTTPCode_Target_4XX_Count: 1,
      HTTPCode_Target_5XX_Count: 3,
      TargetConnectionErrorCount: 1,
    });
    const [next, old] = await cloud.trafficOf('search', ['search-prod-v002', 'search-prod-v001'], since);
    expect(next).toMatchObject({
      group: 'search-prod-v002',
      requests: 1204,
      responses: { '2xx': 1199, '3xx': 0, '4xx': 1, '5xx': 3 },
      connectionErrors: 1,
      attributed: true,
    });
    expect(old).toMatchObject({ group: 'search-prod-v001', requests: 1180, responses: { '5xx': 2 }, attributed: true });
    expect(Date.parse(next!.since) % 60_000).toBe(0); // CloudWatch counts by the minute
  });

  it('says when two groups share a target group and their traffic cannot be told apart (and reads none)', async () => {
    const cloud = provider();
    await cloud.createLoadBalancer(spec('search', 80));
    await withGroups(cloud, { 'search-prod-v001': 'search', 'search-prod-v002': 'search' });
    const since = new Date();
    await putTraffic(moto, 'search', { RequestCount: 40, HTTPCode_Target_2XX_Count: 40 });
    const traffic = await cloud.trafficOf('search', ['search-prod-v002', 'search-prod-v001'], since);
    expect(traffic.map((t) => [t.requests, t.attributed])).toEqual([
      [0, false],
      [0, false],
    ]);
  });

  it("reads the target groups' response-time percentiles, in ms, from one period over the window", async () => {
    const cloudWatch = new CloudWatchClient(moto.client);
    const mock = mockClient(cloudWatch);
    mock.on(GetMetricDataCommand).callsFake(async (input: GetMetricDataCommandInput) => ({
      MetricDataResults: input.MetricDataQueries!.map((q) => ({
        Id: q.Id,
        Label: q.Label,
        Values: [q.MetricStat!.Stat === 'p99' ? 0.412 : q.MetricStat!.Stat === 'p50' ? 0.021 : 10],
      })),
    }));
    const cloud = provider(cloudWatch);
    await cloud.createLoadBalancer(spec('search', 80));
    await withGroups(cloud, { 'search-prod-v001': 'search' });
    const since = new Date(Date.now() - 150_000);
    const [traffic] = await cloud.trafficOf('search', ['search-prod-v001'], since);
    expect(traffic!.latency).toEqual({ p50Ms: 21, p99Ms: 412 });
    const input = mock.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    const p99 = input.MetricDataQueries!.find((q) => q.MetricStat?.Stat === 'p99')!.MetricStat!;
    expect(p99.Metric).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'TargetResponseTime',
      Dimensions: [
        { Name: 'TargetGroup', Value: expect.stringMatching(/^targetgroup\/search\/\w+$/) },
        { Name: 'LoadBalancer', Value: expect.stringMatching(/^app\/search\/\w+$/) },
      ],
    });
    expect(p99.Period! % 60).toBe(0);
    expect(input.EndTime!.getTime() - input.StartTime!.getTime()).toBe(p99.Period! * 1000);
    expect(input.StartTime!.getTime()).toBeLessThanOrEqual(since.getTime());
    mock.restore();
  });
});

/**
 * What trafficOf costs: a deployment asks it every 200 ms, and GetMetricData is billed (and held
 * to 50 TPS a region) for data CloudWatch keeps by the minute. The clients are mocked to count calls.
 */
describe('aws trafficOf, asked every poll', () => {
  const arn = (name: string) => ({
    TargetGroupArn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/${name}/0123456789abcdef`,
    LoadBalancerArns: [`arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/${name}/fedcba9876543210`],
  });
  function mocked(targetGroups: Record<string, string[]>, clock: { now: number }) {
    const elb = mockClient(ElasticLoadBalancingV2Client);
    elb.on(DescribeTargetGroupsCommand).callsFake(async (input: DescribeTargetGroupsCommandInput) => ({
      TargetGroups: input.Names!.map(arn),
    }));
    const cloudWatch = mockClient(CloudWatchClient);
    cloudWatch.on(GetMetricDataCommand).callsFake(async (input: GetMetricDataCommandInput) => ({
      MetricDataResults: input.MetricDataQueries!.map((q) => ({ Id: q.Id, Label: q.Label, Values: [10] })),
    }));
    const traffic = awsTraffic({
      cloudWatch: new CloudWatchClient({ region: 'us-east-1' }),
      elb: new ElasticLoadBalancingV2Client({ region: 'us-east-1' }),
      serverGroup: async (name) =>
        targetGroups[name] && ({ name, targetGroups: targetGroups[name] } as unknown as ServerGroup),
      now: () => clock.now,
    });
    return { elb, cloudWatch, traffic };
  }

  it('answers groups sharing one target group as not attributed, asking neither CloudWatch nor ELB', async () => {
    const clock = { now: Date.parse('2024-01-02T03:04:30Z') };
    const { elb, cloudWatch, traffic } = mocked({ v001: ['search'], v002: ['search'] }, clock);
    const since = new Date(clock.now - 90_000);
    for (let poll = 0; poll < 5; poll++) {
      const answer = await traffic.trafficOf('search', ['v002', 'v001'], since);
      expect(answer.map((t) => [t.group, t.attributed])).toEqual([
        ['v002', false],
        ['v001', false],
      ]);
    }
    expect(cloudWatch.commandCalls(GetMetricDataCommand)).toHaveLength(0);
    expect(elb.commandCalls(DescribeTargetGroupsCommand)).toHaveLength(0);
    elb.restore();
    cloudWatch.restore();
  });

  it("reads CloudWatch once a minute for the same window, and each target group's dimensions once", async () => {
    const clock = { now: Date.parse('2024-01-02T03:04:30Z') };
    const { elb, cloudWatch, traffic } = mocked({ v001: ['search'], v002: ['search-burnin'] }, clock);
    const since = new Date(clock.now - 90_000);
    for (let poll = 0; poll < 5; poll++, clock.now += 200) {
      const [next] = await traffic.trafficOf('search', ['v002', 'v001'], since);
      expect(next).toMatchObject({ group: 'v002', requests: 10, attributed: true });
    }
    expect(cloudWatch.commandCalls(GetMetricDataCommand)).toHaveLength(1);
    // search and search-burnin, once each (search also answers whether the asked target group exists).
    expect(elb.commandCalls(DescribeTargetGroupsCommand)).toHaveLength(2);
    clock.now += 60_000;
    await traffic.trafficOf('search', ['v002', 'v001'], since);
    expect(cloudWatch.commandCalls(GetMetricDataCommand)).toHaveLength(2);
    expect(elb.commandCalls(DescribeTargetGroupsCommand)).toHaveLength(2);
    elb.restore();
    cloudWatch.restore();
  });
});
