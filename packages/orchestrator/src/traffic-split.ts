/**
 * A burn-in's traffic split, where the cloud needs one to count the new group apart from the old
 * (AWS: CloudWatch counts per target group, and red-black keeps both groups in one; see
 * CloudProvider.splitTraffic). Before the new group is enabled it gets a target group of its own;
 * once its targets are healthy there the listeners forward over both target groups in the shares
 * of the two groups' sizes (again after each progressive batch); after the watch it joins the
 * cluster's target group and the split ends (actions.ts, join-traffic); a rollback or cancel ends
 * it with the new group out of service (end-traffic-split). Every step is saved before it acts.
 */
import { need, targetsHealthy, type Action, type ActionContext } from './action.js';

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

/** Rolling back or cancelled: the listeners to the cluster's target group alone, the new group out, its own deleted. */
export const endTrafficSplit: Action = {
  name: 'end-traffic-split',
  async run(ctx) {
    const { cloud } = ctx.deps;
    const c = ctx.deployment.context;
    if (!c.split || c.split.ended || !c.group || !cloud.endTrafficSplit) return 'traffic not split';
    // The old group takes it all from here: only once it serves (as take-new-group-out).
    if (c.enabled && c.previous) {
      const { healthy, of } = await targetsHealthy(ctx, c.previous);
      if (of === 0 || healthy < of) throw new Error(`${c.previous} is not serving yet (${healthy} of ${of} healthy)`);
    }
    await cloud.endTrafficSplit(need(ctx, 'targetGroup'), c.group, { keep: false });
    c.split.ended = true;
    return `the load balancer forwards to ${c.targetGroup} alone; ${c.group} out of service, ${c.split.targetGroup ?? 'its own target group'} deleted`;
  },
};
