/**
 * For tests against moto, which runs no load balancer: puts into its CloudWatch the metric data
 * an application load balancer would publish for a target group's traffic, with the dimensions
 * AWS gives them (TargetGroup and LoadBalancer, by ARN suffix).
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TestMoto } from '@slipway/test-utils';

export async function putTraffic(
  moto: TestMoto,
  targetGroup: string,
  counts: Record<string, number>,
  responseTimesSeconds: number[] = [],
  /** The target group whose load balancer sent it (a split's target group: the cluster's), when not its own. */
  loadBalancerOf = targetGroup,
): Promise<void> {
  const elb = new ElasticLoadBalancingV2Client(moto.client);
  const describe = async (name: string) =>
    (await elb.send(new DescribeTargetGroupsCommand({ Names: [name] }))).TargetGroups![0]!;
  const tg = await describe(targetGroup);
  const lb = (await describe(loadBalancerOf)).LoadBalancerArns![0]!;
  const Dimensions = [
    { Name: 'TargetGroup', Value: tg.TargetGroupArn!.slice(tg.TargetGroupArn!.indexOf('targetgroup/')) },
    { Name: 'LoadBalancer', Value: lb.slice(lb.indexOf(':loadbalancer/') + ':loadbalancer/'.length) },
  ];
  const Timestamp = new Date();
  await new CloudWatchClient(moto.client).send(
    new PutMetricDataCommand({
      Namespace: 'AWS/ApplicationELB',
      MetricData: [
        ...Object.entries(counts).map(([MetricName, Value]) => ({
          MetricName,
          Dimensions,
          Timestamp,
          Value,
          Unit: 'Count' as const,
        })),
        ...responseTimesSeconds.map((Value) => ({
          MetricName: 'TargetResponseTime',
          Dimensions,
          Timestamp,
          Value,
          Unit: 'Seconds' as const,
        })),
      ],
    }),
  );
}
