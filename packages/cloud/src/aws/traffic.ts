/**
 * The aws provider's view of traffic: CloudWatch's application load balancer metrics per target
 * group (RequestCount, HTTPCode_Target_2XX…5XX_Count, TargetConnectionErrorCount and
 * TargetResponseTime's p50 and p99), by the minute, as CloudWatch keeps them. ALB metrics go no
 * finer than a target group: a server group's traffic is its target groups' when it is alone in
 * them; groups that share one cannot be told apart, and their entries say so (`attributed: false`).
 * Target timeouts are an ELB 504 counted per load balancer only, so `timeouts` stays 0 here.
 */
import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import {
  DescribeTargetGroupsCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudProvider, GroupTraffic, ServerGroup } from '../provider.js';
import { NotFoundError } from '@slipway/core';
import { orNothing } from './retry.js';

export interface TrafficOptions {
  cloudWatch: CloudWatchClient;
  elb: ElasticLoadBalancingV2Client;
  serverGroup(name: string): Promise<ServerGroup | undefined>;
  now?: () => number;
}

const COUNTS = {
  requests: 'RequestCount',
  '2xx': 'HTTPCode_Target_2XX_Count',
  '3xx': 'HTTPCode_Target_3XX_Count',
  '4xx': 'HTTPCode_Target_4XX_Count',
  '5xx': 'HTTPCode_Target_5XX_Count',
  connectionErrors: 'TargetConnectionErrorCount',
} as const;
type Count = keyof typeof COUNTS;
const PERCENTILES = { p50Ms: 'p50', p99Ms: 'p99' } as const;
const MINUTE = 60_000;

/** How long a target group's dimensions (its ARN and its load balancer's) are taken as known. */
const DIMENSIONS_FOR = 10 * MINUTE;

/** A target group's metric dimension (`targetgroup/<name>/<id>`) and its load balancer's (`app/<name>/<id>`), if one sends to it. */
type Dimensions = { targetGroup: string; loadBalancer: string | undefined };

export function awsTraffic({ cloudWatch, elb, serverGroup, now = Date.now }: TrafficOptions) {
  /** Target groups described lately that a load balancer sends to: name → when, and its dimensions. */
  const described = new Map<string, { at: number; dimensions: Dimensions }>();
  /**
   * Answers by (target group, groups, the minute `since` falls in), each kept a minute: CloudWatch
   * counts by the minute, and a deployment asks every 200 ms.
   */
  const answers = new Map<string, { at: number; answer: Promise<GroupTraffic[]> }>();

  /**
   * Whether a target group exists, and its metric dimensions (its load balancer's undefined when
   * none sends to it yet: then it is asked again next time).
   */
  async function describe(name: string): Promise<{ dimensions: Dimensions } | undefined> {
    const known = described.get(name);
    if (known && now() - known.at < DIMENSIONS_FOR) return known;
    const answer = await orNothing(() => elb.send(new DescribeTargetGroupsCommand({ Names: [name] })));
    const tg = answer?.TargetGroups?.[0];
    if (!tg?.TargetGroupArn) return undefined;
    const lb = tg.LoadBalancerArns?.[0];
    const entry = {
      at: now(),
      dimensions: {
        targetGroup: tg.TargetGroupArn.slice(tg.TargetGroupArn.indexOf('targetgroup/')),
        loadBalancer: lb?.slice(lb.indexOf(':loadbalancer/') + ':loadbalancer/'.length),
      },
    };
    if (lb) described.set(name, entry);
    return entry;
  }

  const methods: Pick<CloudProvider, 'trafficOf'> = {
    async trafficOf(targetGroup, groups, since) {
      const start = since.getTime() - (since.getTime() % MINUTE);
      const found = await Promise.all(groups.map(serverGroup));
      const targetGroupsOf = found.map((g) => g?.targetGroups ?? []);
      const names = [...new Set(targetGroupsOf.flat())];
      const users = new Map(names.map((n) => [n, targetGroupsOf.filter((tgs) => tgs.includes(n)).length]));
      const attributed = targetGroupsOf.map((tgs) => tgs.every((n) => users.get(n) === 1));
      // Every group shares its target groups with another: nothing to tell apart, nothing to read.
      if (groups.length > 1 && attributed.every((a) => !a))
        return groups.map((group) => ({
          group,
          requests: 0,
          responses: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
          connectionErrors: 0,
          timeouts: 0,
          attributed: false,
          since: new Date(start).toISOString(),
        }));
      const key = JSON.stringify([targetGroup, targetGroupsOf, groups, start]);
      for (const [k, { at }] of answers) if (now() - at >= MINUTE) answers.delete(k);
      const cached = answers.get(key);
      if (cached) return cached.answer;
      const answer = read(targetGroup, groups, targetGroupsOf, names, attributed, start);
      answers.set(key, { at: now(), answer });
      answer.catch(() => answers.delete(key)); // a failure is asked again, not remembered
      return answer;
    },
  };

  async function read(
    targetGroup: string,
    groups: string[],
    targetGroupsOf: string[][],
    names: string[],
    attributed: boolean[],
    start: number,
  ): Promise<GroupTraffic[]> {
    const asked = await describe(targetGroup);
    if (!asked) throw new NotFoundError(`no target group ${targetGroup}`);
    const found = await Promise.all(names.map(async (name) => (await describe(name))?.dimensions));
    // A target group's own load balancer, else the one asked about: a split's target group
    // (traffic-split.ts) is counted on the cluster's (moto names no load balancer for a target
    // group only a weighted forward sends to; AWS names the cluster's).
    const dimensions = found.map((d) => {
      const loadBalancer = d?.loadBalancer ?? asked.dimensions.loadBalancer;
      return d && loadBalancer
        ? [
            { Name: 'TargetGroup', Value: d.targetGroup },
            { Name: 'LoadBalancer', Value: loadBalancer },
          ]
        : undefined;
    });
    // One period from the minute `since` falls in to the end of this one: one value a metric.
    const period = Math.max(Math.ceil((now() - start) / MINUTE), 1) * 60;
    const queries: MetricDataQuery[] = [];
    names.forEach((_, t) => {
      const Dimensions = dimensions[t];
      if (!Dimensions) return;
      const metric = (MetricName: string) => ({ Namespace: 'AWS/ApplicationELB', MetricName, Dimensions });
      for (const [key, name] of Object.entries(COUNTS))
        queries.push({
          Id: `c${t}_${queries.length}`,
          Label: `${t} ${key}`,
          MetricStat: { Metric: metric(name), Period: period, Stat: 'Sum' },
        });
      for (const [key, stat] of Object.entries(PERCENTILES))
        queries.push({
          Id: `l${t}_${queries.length}`,
          Label: `${t} ${key}`,
          MetricStat: { Metric: metric('TargetResponseTime'), Period: period, Stat: stat },
        });
    });
    const values = new Map<string, number>();
    if (queries.length) {
      const answer = await cloudWatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries,
          StartTime: new Date(start),
          EndTime: new Date(start + period * 1000),
        }),
      );
      for (const result of answer.MetricDataResults ?? []) {
        const numbers = (result.Values ?? []).filter((v): v is number => typeof v === 'number');
        if (numbers.length)
          values.set(
            result.Label!,
            numbers.reduce((a, b) => a + b, 0),
          );
      }
    }
    return groups.map((group, g): GroupTraffic => {
      const indexes = targetGroupsOf[g]!.map((n) => names.indexOf(n));
      const sum = (key: Count) => indexes.reduce((total, t) => total + (values.get(`${t} ${key}`) ?? 0), 0);
      // A group in several target groups: the slowest one's percentiles.
      const slowest = (key: keyof typeof PERCENTILES) =>
        Math.max(...indexes.map((t) => values.get(`${t} ${key}`) ?? -1));
      const [p50, p99] = [slowest('p50Ms'), slowest('p99Ms')];
      return {
        group,
        requests: sum('requests'),
        responses: { '2xx': sum('2xx'), '3xx': sum('3xx'), '4xx': sum('4xx'), '5xx': sum('5xx') },
        connectionErrors: sum('connectionErrors'),
        timeouts: 0,
        ...(p50 >= 0 && p99 >= 0 ? { latency: { p50Ms: p50 * 1000, p99Ms: p99 * 1000 } } : {}),
        attributed: attributed[g]!,
        since: new Date(start).toISOString(),
      };
    });
  }
  return methods;
}
