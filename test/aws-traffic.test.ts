/**
 * Judged by its real traffic on AWS, against moto: CloudWatch counts per target group only, so
 * the burn-in gives the new group a target group of its own and the listener a weighted forward
 * over both (traffic-split.ts); the metric data an ALB would publish for each is put into moto's
 * CloudWatch, and the burn-in's judgement is pass or fail, not "not enough traffic". Then the
 * split ends however the deployment does (success, rollback, cancel), each action run twice, and
 * after a crash by an orchestrator that starts afresh. moto's gaps here are in
 * packages/cloud/src/aws/contract.test.ts (it runs no load balancer: the traffic is put).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { createAwsProvider, type CloudProvider } from '@slipway/cloud';
import { putTraffic } from '../packages/cloud/src/aws/moto-traffic.js';
import { createLogger } from '@slipway/core';
import { createMotoNetwork, recordAwsActions, startMoto, type MotoNetwork, type TestMoto } from '@slipway/test-utils';
import {
  ACTIONS,
  HealthFailure,
  rollbackPlan,
  STRATEGIES,
  type ActionContext,
} from '../packages/orchestrator/src/actions/actions.js';
import { resolveParams, type Deployment } from '../packages/orchestrator/src/deployments/deployment.js';

let moto: TestMoto;
let network: MotoNetwork;
let elb: ElasticLoadBalancingV2Client;
let asg: AutoScalingClient;

beforeAll(async () => {
  moto = await startMoto();
  elb = new ElasticLoadBalancingV2Client(moto.client);
  asg = new AutoScalingClient(moto.client);
}, 60_000);
afterAll(async () => {
  await moto.stop();
});
beforeEach(async () => {
  await moto.reset();
  network = await createMotoNetwork(moto);
}, 60_000);

const CLUSTER_TG = 'search-prod';
const OLD = 'search-prod-v001';
const NEW = 'search-prod-v002';

const params = resolveParams(
  {
    capacity: { desired: 2, max: 4 },
    healthCheck: { path: '/healthcheck' },
    loadBalancer: { name: CLUSTER_TG },
    strategy: { burnInSeconds: 1, drainSeconds: 1 },
  },
  {},
  undefined,
);

const provider = () => createAwsProvider({ ...moto.slipway, vpcId: network.vpcId, subnets: network.subnets });

/** The cluster's load balancer and its old group in service, as a deployment finds them. */
async function cluster(cloud: CloudProvider): Promise<void> {
  await cloud.createLoadBalancer({
    name: CLUSTER_TG,
    port: 80,
    protocol: 'http',
    targetGroup: {
      name: CLUSTER_TG,
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
  for (const name of [OLD, NEW])
    await cloud.createLaunchTemplate({
      name,
      imageId: network.imageId,
      instanceType: 't3.small',
      userData: { files: {}, commands: [] },
    });
  await cloud.createServerGroup({
    name: OLD,
    launchTemplate: OLD,
    min: 2,
    desired: 2,
    max: 4,
    targetGroups: [CLUSTER_TG],
  });
  await cloud.enableServerGroup(OLD);
}

function context(cloud: CloudProvider, strategy: Deployment['strategy'] = 'red-black'): ActionContext {
  const deployment = {
    id: 'dep-1',
    service: 'search',
    env: 'prod',
    image: network.imageId,
    strategy,
    context: {
      params,
      group: NEW,
      previous: OLD,
      previousCapacity: { min: 2, desired: 2, max: 4 },
      existing: [OLD],
      targetGroup: CLUSTER_TG,
      commit: 'c'.repeat(40),
      userData: { files: {}, commands: [] },
    },
  } as unknown as Deployment;
  return {
    deployment,
    deps: {
      cloud,
      peers: {} as never,
      store: {} as never,
      logger: createLogger({ name: 't', level: 'silent' }),
      pollMs: 5,
    },
    progress: async () => undefined,
    save: async () => undefined,
    control: async () => ({}) as never,
    checkpoint: () => undefined,
    irrevocable: async () => undefined,
  };
}

/** The strategy's actions from `from` up to (not including) `to`, each run as the runner would. */
async function runActions(ctx: ActionContext, from: string, to: string, times = 1): Promise<string[]> {
  const list = STRATEGIES[ctx.deployment.strategy].map((a) => a.name);
  const said: string[] = [];
  for (const name of list.slice(list.indexOf(from), list.indexOf(to)))
    for (let time = 0; time < times; time++) said.push(`${name}: ${await ACTIONS.get(name)!.run(ctx)}`);
  return said;
}

async function runRollback(ctx: ActionContext, state: 'rolled-back' | 'cancelled', times = 1): Promise<void> {
  ctx.deployment.unwinding = { state, reason: state };
  for (const action of rollbackPlan(ctx.deployment, state))
    for (let time = 0; time < times; time++) await action.run(ctx);
}

/** The burn-in's window starts now; what each group served is put into moto's CloudWatch per target group. */
async function serve(ctx: ActionContext, counts: { new: [number, number]; old: [number, number] }): Promise<void> {
  (ctx.deployment.context.waits ??= {})['burn-in'] = Date.now() + 1000;
  const cloud = ctx.deps.cloud;
  for (const [group, [requests, errors]] of [
    [NEW, counts.new],
    [OLD, counts.old],
  ] as const)
    for (const targetGroup of (await cloud.getServerGroup(group))!.targetGroups)
      await putTraffic(
        moto,
        targetGroup,
        { RequestCount: requests, HTTPCode_Target_2XX_Count: requests - errors, HTTPCode_Target_5XX_Count: errors },
        [],
        CLUSTER_TG,
      );
}

/** What the cluster's listener forwards to, by target group name and weight. */
async function forwarding(): Promise<Array<[string, number]>> {
  const lb = (await elb.send(new DescribeLoadBalancersCommand({ Names: [CLUSTER_TG] }))).LoadBalancers![0]!;
  const listener = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn })))
    .Listeners![0]!;
  const action = listener.DefaultActions![0]!;
  const tuples = action.ForwardConfig?.TargetGroups?.length
    ? action.ForwardConfig.TargetGroups.map((t) => [t.TargetGroupArn!, t.Weight ?? 1] as const)
    : [[action.TargetGroupArn!, 1] as const];
  return tuples.map(([arn, weight]) => [/:targetgroup\/([^/]+)\//.exec(arn)![1]!, weight]);
}

async function targetGroupNames(): Promise<string[]> {
  return ((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? [])
    .map((t) => t.TargetGroupName!)
    .sort();
}

async function attachedTo(group: string): Promise<string[]> {
  const found = (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] })))
    .AutoScalingGroups![0]!;
  return (found.TargetGroupARNs ?? []).map((arn) => /:targetgroup\/([^/]+)\//.exec(arn)![1]!);
}

describe('a burn-in on AWS judged by its real traffic, against moto', () => {
  it('gives the new group its own target group and a weighted forward, and judges pass, not "not enough traffic"', async () => {
    const cloud = provider();
    await cluster(cloud);
    const ctx = context(cloud);
    await runActions(ctx, 'create-server-group', 'burn-in');
    await serve(ctx, { new: [1204, 3], old: [1180, 2] });
    const said = await ACTIONS.get('burn-in')!.run(ctx);
    const judgement = ctx.deployment.context.traffic!['burn-in']!.judgement!;
    expect(judgement).toMatchObject({
      verdict: 'pass',
      new: { group: NEW, requests: 1204, errors: 3 },
      old: { group: OLD, requests: 1180, errors: 2 },
    });
    expect(said).toMatch(/healthy; traffic: new 3\/1,204 errors/);
    expect(await targetGroupNames()).toEqual([NEW, CLUSTER_TG].sort());
    expect(await forwarding()).toEqual([
      [CLUSTER_TG, 2],
      [NEW, 2],
    ]);
    expect(await attachedTo(NEW)).toEqual([NEW]);

    // Success: the new group joins the cluster's target group, the listener forwards to it alone, the split goes.
    await runActions(ctx, 'join-traffic', 'disable-old-group', 2);
    expect(await forwarding()).toEqual([[CLUSTER_TG, 1]]);
    expect(await targetGroupNames()).toEqual([CLUSTER_TG]);
    expect(await attachedTo(NEW)).toEqual([CLUSTER_TG]);
    const health = await cloud.describeTargetHealth(CLUSTER_TG);
    const fresh = (await cloud.getServerGroup(NEW))!;
    expect(fresh.targetGroups).toEqual([CLUSTER_TG]);
    expect(fresh.disabled).toBe(false);
    for (const instance of fresh.instances)
      expect(health.find((t) => t.instanceId === instance.id)?.state).toBe('healthy');
    // The load balancer reads as infra made it, with no split beside it.
    expect((await cloud.getLoadBalancer(CLUSTER_TG))?.targetGroup.name).toBe(CLUSTER_TG);
  }, 60_000);

  it("judges fail on the new group's errors, and the rollback leaves one target group and the old group alone", async () => {
    const cloud = provider();
    await cluster(cloud);
    const ctx = context(cloud);
    await runActions(ctx, 'create-server-group', 'burn-in');
    // While split, infra reads the load balancer's own target group, not the split's.
    expect((await cloud.getLoadBalancer(CLUSTER_TG))?.targetGroup.name).toBe(CLUSTER_TG);
    await serve(ctx, { new: [1200, 60], old: [1180, 2] });
    await expect(ACTIONS.get('burn-in')!.run(ctx)).rejects.toThrow(HealthFailure);
    expect(ctx.deployment.context.traffic!['burn-in']!.judgement!.verdict).toBe('fail');
    await runRollback(ctx, 'rolled-back', 2);
    expect(await forwarding()).toEqual([[CLUSTER_TG, 1]]);
    expect(await targetGroupNames()).toEqual([CLUSTER_TG]);
    const rolled = (await cloud.getServerGroup(NEW))!;
    expect(rolled.disabled).toBe(true);
    expect(rolled.targetGroups).toEqual([CLUSTER_TG]); // enabled again (an undo), it joins the cluster's
    const health = await cloud.describeTargetHealth(CLUSTER_TG);
    expect(health.map((t) => t.instanceId).sort()).toEqual(
      (await cloud.getServerGroup(OLD))!.instances.map((i) => i.id).sort(),
    );
  }, 60_000);

  it('runs each split action twice, and a fresh orchestrator cancelling an interrupted burn-in cleans what exists', async () => {
    const cloud = provider();
    await cluster(cloud);
    const ctx = context(cloud, 'progressive');
    await runActions(ctx, 'create-server-group', 'burn-in', 2);
    // Progressive starts with one instance beside the old group's two.
    expect(await forwarding()).toEqual([
      [CLUSTER_TG, 2],
      [NEW, 1],
    ]);
    // Its batch: two new, the old group shrunk to none, the shares following.
    await runActions(ctx, 'burn-in', 'join-traffic', 2);
    expect(await forwarding()).toEqual([
      [CLUSTER_TG, 0],
      [NEW, 2],
    ]);
    // The orchestrator died here; another one, knowing only what was saved, is asked to cancel.
    const again = context(provider(), 'progressive');
    again.deployment.context = structuredClone(ctx.deployment.context);
    await runRollback(again, 'cancelled', 2);
    expect(await forwarding()).toEqual([[CLUSTER_TG, 1]]);
    expect(await targetGroupNames()).toEqual([CLUSTER_TG]);
    expect(await again.deps.cloud.getServerGroup(NEW)).toBeUndefined();
    const old = (await again.deps.cloud.getServerGroup(OLD))!;
    expect([old.disabled, old.desired]).toEqual([false, 2]);
  }, 60_000);

  it("ends the split first in a rollback that stops at the previous group's health: the listener on the cluster's target group alone", async () => {
    const cloud = provider();
    await cluster(cloud);
    const ctx = context(cloud);
    await runActions(ctx, 'create-server-group', 'burn-in');
    // The old group is not healthy again in time: its targets are out of the cluster's target group.
    const oldIds = (await cloud.getServerGroup(OLD))!.instances.map((i) => i.id);
    await cloud.deregisterTargets(CLUSTER_TG, oldIds);
    const c = ctx.deployment.context;
    c.params = { ...c.params!, strategy: { ...c.params!.strategy, healthTimeoutSeconds: 1 } };
    ctx.deployment.unwinding = { state: 'rolled-back', reason: 'rolled-back' };
    const ran: string[] = [];
    await expect(
      (async () => {
        for (const action of rollbackPlan(ctx.deployment, 'rolled-back')) {
          ran.push(action.name);
          await action.run(ctx);
        }
      })(),
    ).rejects.toThrow(/of 2 targets healthy after 1 s/);
    expect(ran.at(-1)).toBe('wait-for-previous-group-health');
    expect(await forwarding()).toEqual([[CLUSTER_TG, 1]]);
    expect(await targetGroupNames()).toEqual([CLUSTER_TG]);
    // The new group serves from the cluster's target group until the old one is back.
    expect(await attachedTo(NEW)).toEqual([CLUSTER_TG]);
    expect((await cloud.getServerGroup(NEW))!.disabled).toBe(false);
    // The rest of the rollback, once the old group serves, takes it out as without a split.
    await cloud.registerTargets(CLUSTER_TG, oldIds);
    await runRollback(ctx, 'rolled-back');
    expect((await cloud.getServerGroup(NEW))!.disabled).toBe(true);
    expect(await forwarding()).toEqual([[CLUSTER_TG, 1]]);
  }, 60_000);

  it('ends a split whose target group was made but never used (cancelled before the group was enabled)', async () => {
    const cloud = provider();
    await cluster(cloud);
    const ctx = context(cloud);
    await runActions(ctx, 'create-server-group', 'enable-new-group');
    expect(await targetGroupNames()).toEqual([NEW, CLUSTER_TG].sort());
    await runRollback(ctx, 'cancelled');
    expect(await targetGroupNames()).toEqual([CLUSTER_TG]);
    expect(await forwarding()).toEqual([[CLUSTER_TG, 1]]);
  }, 60_000);
});

describe("a split's target group whose record was lost", () => {
  /** A target group as the split makes one (or someone else, with other tags), used by nothing. */
  async function targetGroup(name: string, tags: Record<string, string>): Promise<string> {
    const vpc = (await elb.send(new DescribeTargetGroupsCommand({ Names: [CLUSTER_TG] }))).TargetGroups![0]!.VpcId;
    const made = await elb.send(
      new CreateTargetGroupCommand({
        Name: name,
        Protocol: 'HTTP',
        Port: 80,
        VpcId: vpc,
        TargetType: 'instance',
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    return made.TargetGroups![0]!.TargetGroupArn!;
  }

  it('is swept once unused for the grace period: never one a listener or its group uses, never one not ours', async () => {
    const cloud = provider();
    // The cluster's load balancer, the old group in its target group, a new group beside it.
    await cloud.createLoadBalancer({
      name: CLUSTER_TG,
      port: 80,
      protocol: 'http',
      targetGroup: {
        name: CLUSTER_TG,
        healthCheck: { path: '/', intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 2 },
        deregistrationDelaySeconds: 30,
      },
    });
    for (const [name, targetGroups] of [
      [OLD, [CLUSTER_TG]],
      [NEW, []],
    ] as const) {
      await cloud.createLaunchTemplate({
        name,
        imageId: network.imageId,
        instanceType: 't3.small',
        userData: { files: {}, commands: [] },
      });
      await cloud.createServerGroup({
        name,
        launchTemplate: name,
        min: 0,
        desired: 0,
        max: 2,
        targetGroups: [...targetGroups],
      });
    }
    // In use: a burn-in's own, forwarded to by the listener (at weight 0 until the group is healthy)
    // and named by the new group as the one it joins.
    await cloud.splitTraffic!(CLUSTER_TG, NEW);
    // Left over: made for a group that is gone (a crash between making it and saving so), and one
    // for the old group, which serves from the cluster's target group and no longer uses it.
    await targetGroup('search-prod-v009', {
      'slipway:split-of': CLUSTER_TG,
      'slipway:server-group': 'search-prod-v009',
    });
    await targetGroup(OLD, { 'slipway:split-of': CLUSTER_TG, 'slipway:server-group': OLD });
    // Not ours: unused, with no split tag; or with a tag of that name and not as Slipway makes one
    // (no server group named, or a name that is not its group's split's).
    await targetGroup('someone-elses', { team: 'payments' });
    await targetGroup('payments-blue', { 'slipway:split-of': 'payments' });
    await targetGroup('payments-green', { 'slipway:split-of': 'payments', 'slipway:server-group': 'payments-v001' });
    // Ours, its group gone, but a listener forwards to it (at weight 0): used, so kept.
    const forwarded = await targetGroup('search-prod-v008', {
      'slipway:split-of': CLUSTER_TG,
      'slipway:server-group': 'search-prod-v008',
    });
    const lb = (await elb.send(new DescribeLoadBalancersCommand({ Names: [CLUSTER_TG] }))).LoadBalancers![0]!;
    const [listener] = (await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn })))
      .Listeners!;
    const tuples = listener!.DefaultActions![0]!.ForwardConfig!.TargetGroups!;
    await elb.send(
      new ModifyListenerCommand({
        ListenerArn: listener!.ListenerArn,
        DefaultActions: [
          { Type: 'forward', ForwardConfig: { TargetGroups: [...tuples, { TargetGroupArn: forwarded, Weight: 0 }] } },
        ],
      }),
    );
    const foreign = ['payments-blue', 'payments-green', 'someone-elses'];
    const all = [CLUSTER_TG, NEW, OLD, 'search-prod-v008', 'search-prod-v009', ...foreign].sort();

    // Within the grace period nothing goes: the sweep notes since when each leftover is unused.
    expect(await cloud.sweepTrafficSplits!({ graceMs: 3_600_000 })).toEqual([]);
    expect(await targetGroupNames()).toEqual(all);
    // Past it (counted from that note), the leftovers go, and only they.
    const later = Date.now() + 3_600_000;
    expect((await cloud.sweepTrafficSplits!({ graceMs: 3_600_000, now: later })).sort()).toEqual([
      OLD,
      'search-prod-v009',
    ]);
    expect(await targetGroupNames()).toEqual([CLUSTER_TG, NEW, 'search-prod-v008', ...foreign].sort());
    expect((await forwarding()).map(([name]) => name)).toEqual([CLUSTER_TG, NEW, 'search-prod-v008']);
    // The one a listener forwards to was seen as used, never counted as unused.
    const tags = await elb.send(new DescribeTagsCommand({ ResourceArns: [forwarded] }));
    expect(tags.TagDescriptions![0]!.Tags!.map((t) => t.Key)).not.toContain('slipway:unused-from');
    // Run again, it finds nothing more.
    expect(await cloud.sweepTrafficSplits!({ graceMs: 0 })).toEqual([]);
  }, 60_000);
});

describe('what the split asks of AWS', () => {
  it('is all in the documented IAM policy (templates/aws/iam-policy.json)', async () => {
    const { used, missing } = await recordAwsActions(moto, 'orchestrator-traffic');
    expect(used).toEqual(expect.arrayContaining(['elasticloadbalancing:ModifyListener']));
    // A new call: run the AWS tests, then node scripts/aws-policy.mjs (it adds the action to the policy).
    expect(missing).toEqual([]);
  });
});
