/**
 * Telling a new server group's traffic from the old one's on AWS. CloudWatch counts an
 * application load balancer's traffic per target group, no finer, and red-black keeps both groups
 * in the cluster's one target group. So for a burn-in (and each progressive batch) the new group
 * serves from a target group of its own, made like the cluster's (port, protocol, health check,
 * deregistration delay) and tagged, and the listeners forward over both with weights following
 * the capacity split. At the end the listeners forward to the cluster's target group alone again,
 * the new group is in it (success) or out of service (rollback, cancel), and its own is deleted.
 * It costs one target group during a burn-in, no load balancer.
 *
 * Every step looks before it acts, so each is safe to run twice and after a crash anywhere: the
 * split's target group is named after the group (found again by name, and known as ours by its
 * tag), and the end finds and removes whatever of the split exists.
 */
import {
  CreateOrUpdateTagsCommand,
  DetachLoadBalancerTargetGroupsCommand,
  type AutoScalingClient,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import {
  AddTagsCommand,
  CreateTargetGroupCommand,
  DeleteTargetGroupCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ModifyListenerCommand,
  ModifyTargetGroupAttributesCommand,
  type Action as ElbAction,
  type ElasticLoadBalancingV2Client,
  type Tag as ElbTag,
  type TagDescription,
  type TargetGroup as ElbTargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConflictError, NotFoundError, type Logger } from '@slipway/core';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { CloudProvider } from '../provider.js';
import { errorName, isNotFound, orNothing, retryEventually, type Sleep } from './retry.js';

/** On a split's target group: the cluster's target group it was split from. */
export const SPLIT_TAG = 'slipway:split-of';
/** On a split's target group being ended: when its group was detached (ms since the epoch), the start of its drain. */
export const DRAIN_TAG = 'slipway:drain-from';
/** On a split's target group the sweep found unused: since when (ms since the epoch), the start of its grace. */
export const UNUSED_TAG = 'slipway:unused-from';
/** The server group a split's target group is for (set when it is made). */
const GROUP_TAG = 'slipway:server-group';
/** DescribeTags takes at most 20 resources. */
const TAGS_PER_CALL = 20;
/** How often the drain of a split's target group is looked at. */
const DRAIN_POLL_MS = 5000;
/** ELBv2's limit on a target group's name. */
const NAME_LIMIT = 32;
/** ELBv2's largest weight in a forward action. */
const MAX_WEIGHT = 999;

/**
 * The split's target group of a server group: its own name when it fits ELBv2's 32 characters
 * (`search-prod-v004`), else its first 23 and a hash of the whole (never two groups the same).
 */
export function splitTargetGroupName(group: string): string {
  if (group.length <= NAME_LIMIT) return group;
  const hash = createHash('sha256').update(group).digest('hex').slice(0, 8);
  return `${group.slice(0, NAME_LIMIT - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** Integer weights in ELBv2's 0–999 in the same proportion, never both 0. */
export function forwardWeights(shares: { group: number; others: number }): { group: number; others: number } {
  const largest = Math.max(shares.group, shares.others);
  if (largest <= 0) return { group: 0, others: 1 };
  const scale = largest > MAX_WEIGHT ? MAX_WEIGHT / largest : 1;
  return { group: Math.round(shares.group * scale), others: Math.round(shares.others * scale) };
}

export interface TrafficSplitOptions {
  elb: ElasticLoadBalancingV2Client;
  asg: AutoScalingClient;
  sleep: Sleep;
  /** The tag naming the target groups a server group joins when enabled. */
  targetGroupsTag: string;
  describeGroup(name: string): Promise<AutoScalingGroup | undefined>;
  /** What the provider itself does to enable and disable a group (Asgard's way). */
  enable(name: string): Promise<unknown>;
  disable(name: string): Promise<unknown>;
  /** Suspends what a disabled group has suspended, for a group in no target group. */
  suspend(name: string): Promise<unknown>;
  /** Whether a group has AddToLoadBalancer suspended (out of service the Asgard way). */
  suspended(group: AutoScalingGroup): boolean;
  /** Forgets what the provider keeps of groups (its snapshot). */
  changed(): void;
  /** Where the sweep says what it could not do. */
  logger: Pick<Logger, 'warn'>;
}

type SplitMethods = Required<
  Pick<
    CloudProvider,
    'splitTraffic' | 'whyNotSplit' | 'weighTraffic' | 'joinTraffic' | 'endTrafficSplit' | 'sweepTrafficSplits'
  >
>;

/** A target group's name from its ARN. */
const tgName = (arn: string) => /:targetgroup\/([^/]+)\//.exec(arn)?.[1] ?? arn;

export function awsTrafficSplit(options: TrafficSplitOptions): SplitMethods {
  const { elb, asg, sleep, targetGroupsTag } = options;

  async function targetGroup(name: string): Promise<ElbTargetGroup | undefined> {
    const answer = await orNothing(() => elb.send(new DescribeTargetGroupsCommand({ Names: [name] })));
    return answer?.TargetGroups?.[0];
  }

  async function clusterTargetGroup(name: string): Promise<ElbTargetGroup> {
    const found = await targetGroup(name);
    if (!found) throw new NotFoundError(`no target group ${name}`);
    return found;
  }

  async function tagsOf(arn: string) {
    const tags = await elb.send(new DescribeTagsCommand({ ResourceArns: [arn] }));
    return tags.TagDescriptions?.[0]?.Tags ?? [];
  }

  /**
   * The split's target group if it exists; one of that name not split from `from` is never
   * touched: refused, or (ending a split) no split at all, so that it blocks no rollback.
   */
  async function splitOf(from: string, group: string, foreign: 'refuse' | 'ignore' = 'refuse') {
    const name = splitTargetGroupName(group);
    const found = await targetGroup(name);
    if (!found) return undefined;
    const of = (await tagsOf(found.TargetGroupArn!)).find((t) => t.Key === SPLIT_TAG)?.Value;
    if (of !== from && foreign === 'ignore') return undefined;
    if (of !== from)
      throw new ConflictError(
        `target group ${name} exists and is not ${group}'s split of ${from}: rename or delete it`,
      );
    return found;
  }

  /** The listeners of the cluster's load balancer that forward to `arns` (the HTTPS one, or HTTP when it does not redirect). */
  async function forwarding(cluster: ElbTargetGroup, arns: string[]) {
    const lb = cluster.LoadBalancerArns?.[0];
    if (!lb) return [];
    const { Listeners = [] } = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb }));
    return Listeners.filter((l) => {
      const action = l.DefaultActions?.[0];
      if (action?.Type !== 'forward') return false;
      const targets = [
        action.TargetGroupArn,
        ...(action.ForwardConfig?.TargetGroups ?? []).map((t) => t.TargetGroupArn),
      ];
      return targets.some((arn) => arn && arns.includes(arn));
    });
  }

  /** What a listener's forward action is, as ELBv2 describes it: the target groups and their weights. */
  function forwardOf(action: ElbAction | undefined): Array<[string, number]> {
    const tuples = action?.ForwardConfig?.TargetGroups;
    if (tuples?.length) return tuples.map((t) => [t.TargetGroupArn!, t.Weight ?? 1]);
    return action?.TargetGroupArn ? [[action.TargetGroupArn, 1]] : [];
  }

  function forwardAction(wanted: Array<[string, number]>): ElbAction {
    if (wanted.length === 1) return { Type: 'forward', TargetGroupArn: wanted[0]![0] };
    return {
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: wanted.map(([TargetGroupArn, Weight]) => ({ TargetGroupArn, Weight })),
        // Off: a client kept on one group for a while would skew the counts the split is for.
        TargetGroupStickinessConfig: { Enabled: false },
      },
    };
  }

  async function forwardTo(
    cluster: ElbTargetGroup,
    split: ElbTargetGroup | undefined,
    wanted: Array<[string, number]>,
  ) {
    const arns = [cluster.TargetGroupArn!, ...(split ? [split.TargetGroupArn!] : [])];
    const action = forwardAction(wanted);
    for (const listener of await forwarding(cluster, arns)) {
      const now = forwardOf(listener.DefaultActions?.[0]);
      // Only what differs is sent: each is a change someone reviews in CloudTrail.
      if (isDeepStrictEqual(now, wanted)) continue;
      await elb.send(new ModifyListenerCommand({ ListenerArn: listener.ListenerArn, DefaultActions: [action] }));
    }
  }

  /** The split's target group in each listener forwarding to the cluster's, at weight 0 when it is not there yet. */
  async function associate(cluster: ElbTargetGroup, split: ElbTargetGroup): Promise<void> {
    for (const listener of await forwarding(cluster, [cluster.TargetGroupArn!])) {
      const now = forwardOf(listener.DefaultActions?.[0]);
      if (now.some(([arn]) => arn === split.TargetGroupArn)) continue;
      await elb.send(
        new ModifyListenerCommand({
          ListenerArn: listener.ListenerArn,
          DefaultActions: [
            forwardAction([
              [cluster.TargetGroupArn!, 1],
              [split.TargetGroupArn!, 0],
            ]),
          ],
        }),
      );
    }
  }

  /**
   * Until the split's target group has no target left (a detach is asynchronous: its targets
   * drain for the deregistration delay), at most that delay and 30 s from the detach. When the
   * detach was is written on the target group first (DRAIN_TAG), so a crash resumes the same wait.
   */
  async function drainStart(arn: string): Promise<number | undefined> {
    const from = Number((await tagsOf(arn)).find((t) => t.Key === DRAIN_TAG)?.Value);
    return Number.isFinite(from) ? from : undefined;
  }

  /** Write-ahead, before the detach: when the split's target group started draining. */
  async function drainFrom(split: ElbTargetGroup): Promise<void> {
    const arn = split.TargetGroupArn!;
    if ((await drainStart(arn)) !== undefined) return;
    await elb.send(new AddTagsCommand({ ResourceArns: [arn], Tags: [{ Key: DRAIN_TAG, Value: String(Date.now()) }] }));
  }

  async function drain(split: ElbTargetGroup): Promise<void> {
    const arn = split.TargetGroupArn!;
    const from = (await drainStart(arn)) ?? Date.now();
    const attributes = await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn }));
    const delay = Number(
      attributes.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value ?? 300,
    );
    const deadline = from + (delay + 30) * 1000;
    for (;;) {
      const health = await orNothing(() => elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })));
      if (!health?.TargetHealthDescriptions?.length || Date.now() > deadline) return;
      await sleep(DRAIN_POLL_MS);
    }
  }

  async function pointAt(group: AutoScalingGroup, targetGroups: string): Promise<void> {
    const now = group.Tags?.find((t) => t.Key === targetGroupsTag)?.Value;
    if (now === targetGroups) return;
    await asg.send(
      new CreateOrUpdateTagsCommand({
        Tags: [
          {
            ResourceId: group.AutoScalingGroupName,
            ResourceType: 'auto-scaling-group',
            Key: targetGroupsTag,
            Value: targetGroups,
            PropagateAtLaunch: true,
          },
        ],
      }),
    );
    options.changed();
  }

  async function groupOrThrow(name: string): Promise<AutoScalingGroup> {
    const found = await options.describeGroup(name);
    if (!found) throw new NotFoundError(`no server group ${name}`);
    return found;
  }

  /** The target groups an action sends to. */
  function targetsOf(action: ElbAction): string[] {
    return [action.TargetGroupArn, ...(action.ForwardConfig?.TargetGroups ?? []).map((t) => t.TargetGroupArn)].filter(
      (arn): arn is string => !!arn,
    );
  }

  /**
   * Whether a listener of the cluster's load balancer sends to `arn`, by default or by a rule
   * (AWS names such a load balancer in the target group's LoadBalancerArns; moto not always).
   */
  async function routed(arn: string, from: string): Promise<boolean> {
    for (const lb of (await targetGroup(from))?.LoadBalancerArns ?? []) {
      const { Listeners = [] } = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb }));
      for (const listener of Listeners) {
        if ((listener.DefaultActions ?? []).some((a) => targetsOf(a).includes(arn))) return true;
        for (let marker: string | undefined, first = true; first || marker; first = false) {
          const page = await elb.send(
            new DescribeRulesCommand({ ListenerArn: listener.ListenerArn, ...(marker ? { Marker: marker } : {}) }),
          );
          if ((page.Rules ?? []).some((r) => (r.Actions ?? []).some((a) => targetsOf(a).includes(arn)))) return true;
          marker = page.NextMarker;
        }
      }
    }
    return false;
  }

  /**
   * The tags of each of `arns` (at most DescribeTags' 20). AWS fails the whole call when one of
   * them was deleted since it was listed (TargetGroupNotFound; moto answers it without tags):
   * then each is asked alone, and one gone is left out.
   */
  async function tagsOfEach(arns: string[]): Promise<TagDescription[]> {
    try {
      return (await elb.send(new DescribeTagsCommand({ ResourceArns: arns }))).TagDescriptions ?? [];
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const each: TagDescription[] = [];
      for (const arn of arns) {
        const alone = await orNothing(() => elb.send(new DescribeTagsCommand({ ResourceArns: [arn] })));
        each.push(...(alone?.TagDescriptions ?? []));
      }
      return each;
    }
  }

  /**
   * One target group the sweep found: deleted when it is a split's as Slipway makes one (tagged
   * with the cluster's target group and its server group, and named after that group), no
   * listener or group uses it, and it has been unused for `graceMs`. Answers whether it was.
   */
  async function sweepOne(arn: string, tags: ElbTag[], { graceMs, now }: { graceMs: number; now: number }) {
    const tag = (key: string) => tags.find((t) => t.Key === key)?.Value;
    const from = tag(SPLIT_TAG);
    const groupName = tag(GROUP_TAG);
    const name = tgName(arn);
    // Never a target group Slipway did not make for a split: another team's tag of that name alone is not enough.
    if (from === undefined || !groupName || name !== splitTargetGroupName(groupName)) return false;
    const group = await options.describeGroup(groupName);
    const gone = !group || group.Status === 'Delete in progress';
    const attached = (group?.TargetGroupARNs ?? []).includes(arn);
    const named = (group?.Tags?.find((t) => t.Key === targetGroupsTag)?.Value ?? '').split(',').includes(name);
    if (!gone && (attached || named)) return false;
    if (await routed(arn, from)) return false;
    // Unused since the sweep first saw it so (written on it: every orchestrator counts from
    // then), or since the drain began when a split's end was cut short.
    let since = Number(tag(UNUSED_TAG));
    if (!Number.isFinite(since)) {
      since = now;
      await orNothing(() =>
        elb.send(new AddTagsCommand({ ResourceArns: [arn], Tags: [{ Key: UNUSED_TAG, Value: String(now) }] })),
      );
    }
    const drained = Number(tag(DRAIN_TAG));
    if (now - Math.max(since, Number.isFinite(drained) ? drained : 0) < graceMs) return false;
    if (group && attached)
      await orNothing(() =>
        asg.send(
          new DetachLoadBalancerTargetGroupsCommand({
            AutoScalingGroupName: group.AutoScalingGroupName,
            TargetGroupARNs: [arn],
          }),
        ),
      );
    try {
      await orNothing(() => elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: arn })));
      return true;
    } catch (error) {
      // A listener took it up since it was read: it is in use, and stays.
      if (/ResourceInUse/.test(errorName(error))) return false;
      throw error;
    }
  }

  return {
    async whyNotSplit(from, group) {
      const cluster = await clusterTargetGroup(from);
      const arn = cluster.TargetGroupArn!;
      const ours = (a: string) => a === arn || tgName(a) === splitTargetGroupName(group);
      const lb = cluster.LoadBalancerArns?.[0];
      if (!lb) return undefined;
      const { Listeners = [] } = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb }));
      for (const listener of Listeners) {
        const port = listener.Port ?? '';
        const actions = listener.DefaultActions ?? [];
        if (!actions.some((a) => targetsOf(a).includes(arn))) continue;
        const [action] = actions;
        if (actions.length !== 1 || action?.Type !== 'forward')
          return `not split: the listener on port ${port} does ${actions.map((a) => a.Type).join(' then ')}, not one forward to ${from}`;
        const others = targetsOf(action).filter((a) => !ours(a));
        if (others.length)
          return `not split: the listener on port ${port} forwards to ${others.map(tgName).join(', ')} too`;
        for (let marker: string | undefined, first = true; first || marker; first = false) {
          const page = await elb.send(
            new DescribeRulesCommand({ ListenerArn: listener.ListenerArn, ...(marker ? { Marker: marker } : {}) }),
          );
          for (const rule of page.Rules ?? [])
            if (!rule.IsDefault && (rule.Actions ?? []).some((a) => targetsOf(a).includes(arn)))
              return `not split: rule ${rule.Priority} of the listener on port ${port} forwards to ${from}`;
          marker = page.NextMarker;
        }
      }
      return undefined;
    },

    async splitTraffic(from, group) {
      const name = splitTargetGroupName(group);
      const asgGroup = await groupOrThrow(group);
      const cluster = await clusterTargetGroup(from);
      let split = await splitOf(from, group);
      const attached = asgGroup.TargetGroupARNs ?? [];
      if (attached.some((arn) => arn !== split?.TargetGroupArn))
        throw new ConflictError(`${group} is in service already: its traffic can no longer be split from ${from}'s`);
      if (!split) {
        const created = await elb.send(
          new CreateTargetGroupCommand({
            Name: name,
            Protocol: cluster.Protocol,
            ...(cluster.ProtocolVersion ? { ProtocolVersion: cluster.ProtocolVersion } : {}),
            Port: cluster.Port,
            VpcId: cluster.VpcId,
            TargetType: 'instance',
            HealthCheckProtocol: cluster.HealthCheckProtocol,
            HealthCheckPort: cluster.HealthCheckPort,
            HealthCheckPath: cluster.HealthCheckPath,
            HealthCheckIntervalSeconds: cluster.HealthCheckIntervalSeconds,
            HealthCheckTimeoutSeconds: cluster.HealthCheckTimeoutSeconds,
            HealthyThresholdCount: cluster.HealthyThresholdCount,
            UnhealthyThresholdCount: cluster.UnhealthyThresholdCount,
            ...(cluster.Matcher ? { Matcher: cluster.Matcher } : {}),
            Tags: [
              { Key: SPLIT_TAG, Value: from },
              { Key: GROUP_TAG, Value: group },
              { Key: 'Name', Value: name },
            ],
          }),
        );
        split = created.TargetGroups![0]!;
      }
      // In the listeners at weight 0 at once: AWS health-checks no target group that no listener
      // action references (its targets read "unused", Target.NotInUse), so the wait for the new
      // group's health would never end. weighTraffic sets the real shares once it is healthy.
      await associate(cluster, split);
      // The cluster's deregistration delay: the new group drains out of its own as it would out of the cluster's.
      const attributes = await elb.send(
        new DescribeTargetGroupAttributesCommand({ TargetGroupArn: cluster.TargetGroupArn }),
      );
      const delay = attributes.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds');
      if (delay)
        await retryEventually(
          () =>
            elb.send(
              new ModifyTargetGroupAttributesCommand({ TargetGroupArn: split!.TargetGroupArn, Attributes: [delay] }),
            ),
          { sleep },
        );
      // Enabled, the group joins its own target group, not the cluster's.
      await pointAt(asgGroup, name);
      return name;
    },

    async weighTraffic(from, group, shares) {
      const cluster = await clusterTargetGroup(from);
      const split = await splitOf(from, group);
      if (!split) throw new NotFoundError(`${group} has no target group of its own beside ${from}: split it first`);
      const weights = forwardWeights(shares);
      await forwardTo(cluster, split, [
        [cluster.TargetGroupArn!, weights.others],
        [split.TargetGroupArn!, weights.group],
      ]);
      options.changed();
    },

    async joinTraffic(from, group) {
      const found = await groupOrThrow(group);
      await pointAt(found, from);
      // Registered in the cluster's target group and attached to it; its own stays until the end.
      await options.enable(group);
    },

    async endTrafficSplit(from, group, { keep }) {
      const cluster = await clusterTargetGroup(from);
      const split = await splitOf(from, group, 'ignore');
      // The listeners first: nothing is sent to the split's target group once the group leaves it.
      await forwardTo(cluster, split, [[cluster.TargetGroupArn!, 1]]);
      const found = await options.describeGroup(group);
      if (found && found.Status !== 'Delete in progress') {
        const attached = found.TargetGroupARNs ?? [];
        // Detached, Auto Scaling deregisters its instances from the split's (they drain as from any).
        if (split && attached.includes(split.TargetGroupArn!)) {
          await drainFrom(split);
          await asg.send(
            new DetachLoadBalancerTargetGroupsCommand({
              AutoScalingGroupName: group,
              TargetGroupARNs: [split.TargetGroupArn!],
            }),
          );
        }
        await pointAt(found, from);
        // Out of service the Asgard way: suspended, and out of the cluster's target group if it joined it.
        if (!keep && !options.suspended(found)) {
          if (attached.includes(cluster.TargetGroupArn!)) await options.disable(group);
          else await options.suspend(group);
        }
      }
      if (split) {
        // Deleted only once its targets have drained: in-flight requests finish.
        await drain(split);
        // Refused for a moment after the listeners let go of it. Each time the listeners are read
        // again first: a stale replica's weigh-traffic may have put the split back meanwhile.
        await retryEventually(
          async () => {
            await forwardTo(cluster, split, [[cluster.TargetGroupArn!, 1]]);
            return orNothing(() => elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: split.TargetGroupArn })));
          },
          { sleep, retryOn: (error) => /ResourceInUse/.test(errorName(error)) },
        );
      }
      options.changed();
    },

    async sweepTrafficSplits({ graceMs, now = Date.now() }) {
      // Only target groups no load balancer routes to (AWS lists those a listener or rule uses).
      const unused: ElbTargetGroup[] = [];
      for (let marker: string | undefined, first = true; first || marker; first = false) {
        const page = await elb.send(new DescribeTargetGroupsCommand(marker ? { Marker: marker } : {}));
        unused.push(...(page.TargetGroups ?? []).filter((t) => !t.LoadBalancerArns?.length));
        marker = page.NextMarker;
      }
      const removed: string[] = [];
      for (let i = 0; i < unused.length; i += TAGS_PER_CALL) {
        const arns = unused.slice(i, i + TAGS_PER_CALL).map((t) => t.TargetGroupArn!);
        for (const { ResourceArn: arn, Tags = [] } of await tagsOfEach(arns)) {
          if (!arn) continue;
          // One that fails (refused by a policy, throttled past every retry) is said and left for
          // the next sweep; it never stops the others' (the same one would stop every sweep).
          try {
            if (await sweepOne(arn, Tags, { graceMs, now })) removed.push(tgName(arn));
          } catch (error) {
            options.logger.warn(
              { err: error, targetGroup: tgName(arn) },
              "a leftover split's target group could not be swept; tried again next sweep",
            );
          }
        }
      }
      if (removed.length) options.changed();
      return removed;
    },
  };
}
