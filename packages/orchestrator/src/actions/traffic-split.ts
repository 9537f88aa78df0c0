/**
 * A burn-in's traffic split, where the cloud needs one to count the new group apart from the old
 * (AWS: CloudWatch counts per target group, and red-black keeps both groups in one; see
 * CloudProvider.splitTraffic). Before the new group is enabled it gets a target group of its own;
 * once its targets are healthy there the listeners forward over both target groups in the shares
 * of the two groups' sizes (again after each progressive batch); after the watch it joins the
 * cluster's target group and the split ends (actions.ts, join-traffic); a rollback or cancel ends
 * it with the new group out of service (end-traffic-split). Every step is saved before it acts.
 */
import { need, type Action, type ActionContext } from './action.js';

/** Why this deployment's traffic is not split, or undefined when it is to be. */
async function noSplit(ctx: ActionContext): Promise<string | undefined> {
  const { cloud } = ctx.deps;
  const c = ctx.deployment.context;
  if (!cloud.splitTraffic) return 'not needed: the load balancer counts each group apart';
  if (!need(ctx, 'params').analysis?.enabled) return 'not split: traffic analysis is off';
  if (!c.previous) return 'not split: no old group to compare with';
  if (c.reuseGroup) return 'not split: a retained group goes back in service as it was';
  if (c.enabled) return 'not split: the new group is in service already';
  const old = await cloud.getServerGroup(c.previous);
  if (!old || old.disabled) return `not split: ${c.previous} is not in service`;
  // Listeners a weighted default forward would change the meaning of: judged by probes instead.
  return cloud.whyNotSplit?.(need(ctx, 'targetGroup'), need(ctx, 'group'));
}

export const splitTraffic: Action = {
  name: 'split-traffic',
  async run(ctx) {
    const c = ctx.deployment.context;
    if (c.split?.ended) return `${c.split.targetGroup ?? 'the split'} ended already`;
    if (!c.split) {
      const why = await noSplit(ctx);
      if (why) return why;
      // Write-ahead: a rollback from here on ends whatever of the split exists.
      c.split = {};
      await ctx.save();
    }
    c.split.targetGroup = await ctx.deps.cloud.splitTraffic!(need(ctx, 'targetGroup'), need(ctx, 'group'));
    return `${c.group} serves from ${c.split.targetGroup} of its own during the burn-in, beside ${c.targetGroup}`;
  },
};

/**
 * The listeners' shares: `shares`, or the two groups' sizes now; undefined when the traffic is
 * not split. Before the old group shrinks, so that its target group never keeps a share it
 * cannot serve.
 */
export async function weigh(
  ctx: ActionContext,
  given?: { group: number; others: number },
): Promise<string | undefined> {
  const { cloud } = ctx.deps;
  const { split, group, previous } = ctx.deployment.context;
  if (!split?.targetGroup || split.joined || split.ended || !cloud.weighTraffic) return undefined;
  const [next, old] = given ? [] : await Promise.all([cloud.getServerGroup(group!), cloud.getServerGroup(previous!)]);
  const shares = given ?? { group: next?.desired ?? 0, others: old && !old.disabled ? old.desired : 0 };
  await cloud.weighTraffic(need(ctx, 'targetGroup'), group!, shares);
  return `the load balancer sends ${shares.group} share(s) to ${group} (${split.targetGroup}), ${shares.others} to ${previous} (${ctx.deployment.context.targetGroup})`;
}

export const weighTraffic: Action = {
  name: 'weigh-traffic',
  run: async (ctx) => (await weigh(ctx)) ?? 'traffic not split',
};

/**
 * Rolling back or cancelled: the listeners to the cluster's target group alone and the split's
 * target group deleted. A new group that was enabled joins the cluster's target group and stays in
 * service (as join-traffic, keep): this runs first in the rollback, so that however far the rest
 * gets (the old group may never be healthy again) no listener is left weighing the groups by
 * shares instead of health; take-new-group-out takes it out later, once the old group serves. A
 * group never enabled goes out of service with it.
 */
export const endTrafficSplit: Action = {
  name: 'end-traffic-split',
  async run(ctx) {
    const { cloud } = ctx.deps;
    const c = ctx.deployment.context;
    if (!c.split || c.split.ended || !c.group || !cloud.endTrafficSplit) return 'traffic not split';
    const targetGroup = need(ctx, 'targetGroup');
    const keep = !!(c.enabled || c.split.joined);
    if (keep) {
      if (!cloud.joinTraffic) throw new Error('the cloud cannot end a split keeping the new group in service');
      await cloud.joinTraffic(targetGroup, c.group);
    }
    await cloud.endTrafficSplit(targetGroup, c.group, { keep });
    c.split.ended = true;
    const group = keep ? `${c.group} in it, still in service` : `${c.group} out of service`;
    return `the load balancer forwards to ${c.targetGroup} alone; ${group}, ${c.split.targetGroup ?? 'its own target group'} deleted`;
  },
};
