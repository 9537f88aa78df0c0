import { describe, expect, it } from '@jest/globals';
import {
  AutoScalingClient,
  CreateOrUpdateTagsCommand,
  DetachLoadBalancerTargetGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  AddTagsCommand,
  CreateTargetGroupCommand,
  DeleteTargetGroupCommand,
  DescribeTargetHealthCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyTargetGroupAttributesCommand,
  type Action as ElbAction,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { awsTrafficSplit, forwardWeights, splitTargetGroupName } from './traffic-split.js';

/** What the split asks of AWS end to end is shown against moto in test/aws-traffic.test.ts. */
describe("a burn-in's own target group", () => {
  it('is named after its server group, within the 32 characters ELBv2 allows, never two groups alike', () => {
    expect(splitTargetGroupName('search-prod-v004')).toBe('search-prod-v004');
    const long = (n: string) => `${'s'.repeat(30)}-production2-v00${n}`;
    const [a, b] = [splitTargetGroupName(long('1')), splitTargetGroupName(long('2'))];
    for (const name of [a, b]) expect(name).toMatch(/^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$/);
    expect(a).not.toBe(b);
  });

  it("gets ELBv2's integer weights (0–999) in the groups' proportion, never both 0", () => {
    expect(forwardWeights({ group: 1, others: 4 })).toEqual({ group: 1, others: 4 });
    expect(forwardWeights({ group: 2000, others: 1000 })).toEqual({ group: 999, others: 500 });
    expect(forwardWeights({ group: 0, others: 0 })).toEqual({ group: 0, others: 1 });
  });
});

const LB = 'arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/search-prod/1';
const CLUSTER = 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/search-prod/1';
const SPLIT = 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/search-prod-v002/2';
const LISTENER = 'arn:aws:elasticloadbalancing:us-east-1:1:listener/app/search-prod/1/1';

/** The SDK mocked as AWS answers (moto does not model an unused target group, nor draining). */
function mocked(defaultActions: ElbAction[] = [{ Type: 'forward', TargetGroupArn: CLUSTER }], attached: string[] = []) {
  const elb = mockClient(ElasticLoadBalancingV2Client);
  const asg = mockClient(AutoScalingClient);
  const notFound = Object.assign(new Error('One or more target groups not found'), { name: 'TargetGroupNotFound' });
  elb
    .on(DescribeTargetGroupsCommand, { Names: ['search-prod'] })
    .resolves({
      TargetGroups: [
        {
          TargetGroupName: 'search-prod',
          TargetGroupArn: CLUSTER,
          LoadBalancerArns: [LB],
          Port: 80,
          Protocol: 'HTTP',
          VpcId: 'vpc-1',
        },
      ],
    })
    .on(DescribeTargetGroupsCommand, { Names: ['search-prod-v002'] })
    .rejects(notFound)
    .on(CreateTargetGroupCommand)
    .resolves({ TargetGroups: [{ TargetGroupName: 'search-prod-v002', TargetGroupArn: SPLIT }] })
    .on(DescribeTagsCommand)
    .resolves({ TagDescriptions: [] })
    .on(DescribeListenersCommand)
    .resolves({ Listeners: [{ ListenerArn: LISTENER, DefaultActions: defaultActions }] })
    .on(DescribeRulesCommand)
    .resolves({ Rules: [{ IsDefault: true, Actions: defaultActions }] })
    .on(DescribeTargetGroupAttributesCommand)
    .resolves({ Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }] })
    .on(ModifyTargetGroupAttributesCommand)
    .resolves({})
    .on(ModifyListenerCommand)
    .resolves({})
    .on(AddTagsCommand)
    .resolves({})
    .on(DeleteTargetGroupCommand)
    .resolves({});
  asg.on(CreateOrUpdateTagsCommand).resolves({}).on(DetachLoadBalancerTargetGroupsCommand).resolves({});
  const split = awsTrafficSplit({
    elb: new ElasticLoadBalancingV2Client({ region: 'us-east-1' }),
    asg: new AutoScalingClient({ region: 'us-east-1' }),
    sleep: async () => undefined,
    targetGroupsTag: 'slipway:target-groups',
    describeGroup: async (name) => ({ AutoScalingGroupName: name, TargetGroupARNs: attached, Tags: [] }) as never,
    enable: async () => undefined,
    disable: async () => undefined,
    suspend: async () => undefined,
    suspended: () => false,
    changed: () => undefined,
    logger: { warn: () => undefined },
  });
  return { elb, asg, split };
}

describe('splitting traffic on AWS (the SDK mocked: what moto does not model)', () => {
  it('puts the new target group in the listener at weight 0 right after creating it, so AWS health-checks it (never "unused")', async () => {
    const { elb, split } = mocked();
    await split.splitTraffic!('search-prod', 'search-prod-v002');
    const calls = elb.calls().map((c) => c.args[0]);
    const created = calls.findIndex((c) => c instanceof CreateTargetGroupCommand);
    expect(created).toBeGreaterThanOrEqual(0);
    const next = calls
      .slice(created + 1)
      .find((c) => !(c instanceof DescribeListenersCommand || c instanceof DescribeRulesCommand));
    expect(next).toBeInstanceOf(ModifyListenerCommand);
    expect(next!.input).toEqual({
      ListenerArn: LISTENER,
      DefaultActions: [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: CLUSTER, Weight: 1 },
              { TargetGroupArn: SPLIT, Weight: 0 },
            ],
            TargetGroupStickinessConfig: { Enabled: false },
          },
        },
      ],
    });
    elb.restore();
  });
});

describe('ending a split on AWS (the SDK mocked: moto never drains)', () => {
  it("deletes the split's target group only once its targets have drained after the detach", async () => {
    const { elb, asg, split } = mocked(
      [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: CLUSTER, Weight: 1 },
              { TargetGroupArn: SPLIT, Weight: 1 },
            ],
          },
        },
      ],
      [SPLIT],
    );
    elb
      .on(DescribeTargetGroupsCommand, { Names: ['search-prod-v002'] })
      .resolves({ TargetGroups: [{ TargetGroupName: 'search-prod-v002', TargetGroupArn: SPLIT }] })
      .on(DescribeTagsCommand)
      .resolves({ TagDescriptions: [{ Tags: [{ Key: 'slipway:split-of', Value: 'search-prod' }] }] });
    const draining = { Target: { Id: 'i-1' }, TargetHealth: { State: 'draining' as const } };
    elb
      .on(DescribeTargetHealthCommand)
      .resolvesOnce({ TargetHealthDescriptions: [draining] })
      .resolvesOnce({ TargetHealthDescriptions: [draining] })
      .resolves({ TargetHealthDescriptions: [] });
    await split.endTrafficSplit!('search-prod', 'search-prod-v002', { keep: true });
    expect(asg.commandCalls(DetachLoadBalancerTargetGroupsCommand)).toHaveLength(1);
    const calls = elb.calls().map((c) => c.args[0]);
    const deleted = calls.findIndex((c) => c instanceof DeleteTargetGroupCommand);
    expect(deleted).toBeGreaterThanOrEqual(0);
    // Looked three times (draining, draining, gone), and deleted after the last.
    const looks = calls.flatMap((c, i) => (c instanceof DescribeTargetHealthCommand ? [i] : []));
    expect(looks).toHaveLength(3);
    expect(deleted).toBeGreaterThan(looks[2]!);
    // When the drain started is written first, so a crash resumes the same wait.
    expect(elb.commandCalls(AddTagsCommand)[0]!.args[0].input.Tags).toEqual([
      { Key: 'slipway:drain-from', Value: expect.stringMatching(/^\d+$/) },
    ]);
    elb.restore();
    asg.restore();
  });
});

describe('a listener whose forward a split would mishandle (the SDK mocked)', () => {
  const OTHER = 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/canary/3';
  const forward = { Type: 'forward' as const, TargetGroupArn: CLUSTER };
  it('is split when its default action is one forward to the cluster target group alone', async () => {
    const { elb, split } = mocked();
    expect(await split.whyNotSplit!('search-prod', 'search-prod-v002')).toBeUndefined();
    elb.restore();
  });

  it.each([
    [
      'an authenticate action before the forward',
      [
        { Type: 'authenticate-oidc' as const, Order: 1 },
        { ...forward, Order: 2 },
      ],
      /authenticate-oidc/,
    ],
    [
      "a user's weighted forward with a third target group",
      [
        {
          Type: 'forward' as const,
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: CLUSTER, Weight: 9 },
              { TargetGroupArn: OTHER, Weight: 1 },
            ],
          },
        },
      ],
      /canary/,
    ],
  ])('is not split with %s', async (_, actions, said) => {
    const { elb, split } = mocked(actions);
    expect(await split.whyNotSplit!('search-prod', 'search-prod-v002')).toMatch(said);
    elb.restore();
  });

  it('is not split when a listener rule forwards to the cluster target group', async () => {
    const { elb, split } = mocked();
    elb.on(DescribeRulesCommand).resolves({
      Rules: [
        { IsDefault: false, Priority: '10', RuleArn: 'arn:rule/10', Actions: [forward] },
        { IsDefault: true, Actions: [forward] },
      ],
    });
    expect(await split.whyNotSplit!('search-prod', 'search-prod-v002')).toMatch(/rule 10/);
    elb.restore();
  });
});

describe("a split's end that others raced (the SDK mocked)", () => {
  const weighted: ElbAction[] = [
    {
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: [
          { TargetGroupArn: CLUSTER, Weight: 1 },
          { TargetGroupArn: SPLIT, Weight: 1 },
        ],
      },
    },
  ];
  const existing = (elb: ReturnType<typeof mocked>['elb'], of: string) =>
    elb
      .on(DescribeTargetGroupsCommand, { Names: ['search-prod-v002'] })
      .resolves({ TargetGroups: [{ TargetGroupName: 'search-prod-v002', TargetGroupArn: SPLIT }] })
      .on(DescribeTagsCommand)
      .resolves({ TagDescriptions: [{ Tags: [{ Key: 'slipway:split-of', Value: of }] }] })
      .on(DescribeTargetHealthCommand)
      .resolves({ TargetHealthDescriptions: [] });

  it("leaves a target group of the split's name that is not ours alone: no split to end, never a conflict", async () => {
    const { elb, split } = mocked();
    existing(elb, 'someone-else');
    await split.endTrafficSplit!('search-prod', 'search-prod-v002', { keep: true });
    expect(elb.commandCalls(DeleteTargetGroupCommand)).toHaveLength(0);
    expect(elb.commandCalls(ModifyListenerCommand)).toHaveLength(0);
    elb.restore();
  });

  it('resets the listener again before deleting when a stale replica re-weighted it meanwhile', async () => {
    const { elb, split } = mocked(weighted);
    existing(elb, 'search-prod');
    await split.endTrafficSplit!('search-prod', 'search-prod-v002', { keep: true });
    const calls = elb.calls().map((c) => c.args[0]);
    const modified = calls.flatMap((c, i) => (c instanceof ModifyListenerCommand ? [i] : []));
    // The listener still reads weighted after the first reset (a stale weigh-traffic): reset again.
    expect(modified).toHaveLength(2);
    expect(calls.findIndex((c) => c instanceof DeleteTargetGroupCommand)).toBeGreaterThan(modified[1]!);
    expect(calls[modified[1]!]!.input).toEqual({
      ListenerArn: LISTENER,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: CLUSTER }],
    });
    elb.restore();
  });
});

describe('the sweep of leftover splits on AWS (the SDK mocked: what moto does not answer)', () => {
  const GONE = 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/search-prod-v003/3';
  const LEFT = 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/search-prod-v004/4';
  const LEFT2 = 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/search-prod-v005/5';
  const long = String(Date.now() - 86_400_000);
  const notFound = () =>
    Object.assign(new Error('One or more target groups not found'), { name: 'TargetGroupNotFoundException' });
  const tagsOf = (arn: string) => [
    { Key: 'slipway:split-of', Value: 'search-prod' },
    { Key: 'slipway:server-group', Value: /targetgroup\/([^/]+)\//.exec(arn)![1]! },
    { Key: 'slipway:unused-from', Value: long },
  ];
  /** Leftovers whose groups are gone and whose grace is over; `deleted` were deleted by someone meanwhile. */
  function leftovers(arns: string[], deleted: string[] = []) {
    const { elb, asg } = mocked();
    const warned: unknown[] = [];
    elb
      .on(DescribeTargetGroupsCommand)
      .callsFake((input: { Names?: string[] }) =>
        input.Names
          ? { TargetGroups: [{ TargetGroupName: 'search-prod', TargetGroupArn: CLUSTER, LoadBalancerArns: [LB] }] }
          : { TargetGroups: arns.map((TargetGroupArn) => ({ TargetGroupArn, LoadBalancerArns: [] })) },
      )
      // AWS fails the whole call when one of its resources is not there (moto answers it without tags).
      .on(DescribeTagsCommand)
      .callsFake(({ ResourceArns = [] }: { ResourceArns?: string[] }) => {
        if (ResourceArns.length > 20) throw new Error('ResourceArns: at most 20');
        if (ResourceArns.some((arn) => deleted.includes(arn))) throw notFound();
        return { TagDescriptions: ResourceArns.map((ResourceArn) => ({ ResourceArn, Tags: tagsOf(ResourceArn) })) };
      });
    const split = awsTrafficSplit({
      elb: new ElasticLoadBalancingV2Client({ region: 'us-east-1' }),
      asg: new AutoScalingClient({ region: 'us-east-1' }),
      sleep: async () => undefined,
      targetGroupsTag: 'slipway:target-groups',
      describeGroup: async () => undefined,
      enable: async () => undefined,
      disable: async () => undefined,
      suspend: async () => undefined,
      suspended: () => false,
      changed: () => undefined,
      logger: { warn: (...args: unknown[]) => void warned.push(args) },
    });
    return { elb, asg, split, warned };
  }

  it('sweeps the rest when one target group was deleted between the listing and DescribeTags (AWS: TargetGroupNotFound for the call)', async () => {
    const { elb, asg, split } = leftovers([GONE, LEFT], [GONE]);
    expect(await split.sweepTrafficSplits!({ graceMs: 3_600_000 })).toEqual(['search-prod-v004']);
    expect(elb.commandCalls(DeleteTargetGroupCommand).map((c) => c.args[0].input.TargetGroupArn)).toEqual([LEFT]);
    elb.restore();
    asg.restore();
  });

  it('reads every page of target groups (moto answers one) and asks their tags 20 at a time', async () => {
    const arns = Array.from({ length: 25 }, (_, i) => LEFT.replace(/v004\/4$/, `v1${String(i).padStart(2, '0')}/${i}`));
    const { elb, asg, split } = leftovers(arns);
    elb.on(DescribeTargetGroupsCommand).callsFake((input: { Names?: string[]; Marker?: string }) => {
      if (input.Names) return { TargetGroups: [{ TargetGroupArn: CLUSTER, LoadBalancerArns: [LB] }] };
      const page = input.Marker ? arns.slice(12) : arns.slice(0, 12);
      return {
        TargetGroups: page.map((TargetGroupArn) => ({ TargetGroupArn, LoadBalancerArns: [] })),
        ...(input.Marker ? {} : { NextMarker: 'm' }),
      };
    });
    expect(await split.sweepTrafficSplits!({ graceMs: 3_600_000 })).toHaveLength(25);
    expect(elb.commandCalls(DescribeTagsCommand).map((c) => c.args[0].input.ResourceArns!.length)).toEqual([20, 5]);
    elb.restore();
    asg.restore();
  });

  it('sweeps the others when one cannot be deleted (AccessDenied), and says which', async () => {
    const { elb, asg, split, warned } = leftovers([LEFT, LEFT2]);
    elb
      .on(DeleteTargetGroupCommand, { TargetGroupArn: LEFT })
      .rejects(Object.assign(new Error('not authorized to perform DeleteTargetGroup'), { name: 'AccessDenied' }));
    expect(await split.sweepTrafficSplits!({ graceMs: 3_600_000 })).toEqual(['search-prod-v005']);
    expect(JSON.stringify(warned)).toMatch(/search-prod-v004/);
    elb.restore();
    asg.restore();
  });
});
