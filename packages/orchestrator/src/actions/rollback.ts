/**
 * Turning back, as recorded actions like the forward ones (Orca's rollback stages): the runner
 * appends them to the deployment when it fails in service, is cancelled or rolled back, so a
 * crash half-way through a rollback resumes the rollback. Each looks at the cloud before it acts.
 * Traffic is never left with no group: the new group leaves only once the previous one serves.
 */
import { DeploymentFailure, look, nap, need, targetsHealthy, waitEnd, type Action } from './action.js';
import type { Deployment } from '../deployments/deployment.js';
import { clusterName } from '@slipway/core';
import { endTrafficSplit } from './traffic-split.js';

/** The previous group back at its size and in service. */
const restorePreviousGroup: Action = {
  name: 'restore-previous-group',
  async run(ctx) {
    const { cloud } = ctx.deps;
    const { previous, previousCapacity } = ctx.deployment.context;
    const before = previous ? await cloud.getServerGroup(previous) : undefined;
    if (!previous || !before) return 'no previous group';
    const said: string[] = [];
    if (previousCapacity && before.desired < previousCapacity.desired) {
      await cloud.resizeServerGroup(previous, previousCapacity);
      said.push(`resized back to ${previousCapacity.desired}`);
    }
    ctx.checkpoint('between-resize-and-enable');
    if (before.disabled) {
      await cloud.enableServerGroup(previous);
      said.push('enabled');
    }
    return `${previous} ${said.join(', ') || 'still in service'}`;
  },
};

/** Until the load balancer finds every instance of the previous group healthy. */
const waitForPreviousGroupHealth: Action = {
  name: 'wait-for-previous-group-health',
  async run(ctx) {
    const previous = ctx.deployment.context.previous;
    if (!previous) return 'no previous group';
    const params = need(ctx, 'params');
    const deadline = await waitEnd(ctx, 'previous-health', params.strategy.healthTimeoutSeconds * 1000);
    for (;;) {
      // The group and its targets' health read together: a group gone has nothing to wait for.
      const seen = await look(ctx, deadline, () => targetsHealthy(ctx, previous));
      if (!seen) {
        await nap(ctx, ctx.deps.pollMs);
        continue;
      }
      const { healthy, of, found } = seen;
      if (!found) return 'no previous group';
      if (of > 0 && healthy === of) return `${healthy} target(s) of ${previous} healthy`;
      if (Date.now() > deadline) {
        throw new DeploymentFailure(
          `${previous} has ${healthy} of ${of} targets healthy after ${params.strategy.healthTimeoutSeconds} s: the new group stays in service`,
        );
      }
      await nap(ctx, ctx.deps.pollMs);
    }
  },
};

/**
 * The new group out of the load balancer, once the previous one (if any) serves; never the only
 * group in service (with nothing else serving it stays, and the deployment ends failed, saying so).
 */
const takeNewGroupOut: Action = {
  name: 'take-new-group-out',
  async run(ctx) {
    const { cloud } = ctx.deps;
    const d = ctx.deployment;
    const { group: created, previous, failureDetectedAt } = d.context;
    if (!created) return 'no new group';
    // The new group, and the previous one with its targets' health, read together (one round trip's time).
    const [found, prior] = await Promise.all([
      cloud.getServerGroup(created),
      previous ? targetsHealthy(ctx, previous) : undefined,
    ]);
    if (!found) return 'no new group';
    if (!found.disabled) {
      if (previous && prior?.found) {
        const { healthy, of } = prior;
        if (of === 0 || healthy < of) throw new Error(`${previous} is not serving yet (${healthy} of ${of} healthy)`);
      } else {
        const others = (await cloud.listServerGroups(clusterName(d.service, d.env))).filter(
          (g) => g.name !== created && !g.disabled,
        );
        if (others.length === 0)
          throw new DeploymentFailure(`nothing else serves ${d.service} ${d.env}: ${created} stays in service`);
      }
      await cloud.disableServerGroup(created);
    }
    ctx.checkpoint('after-disable');
    if (failureDetectedAt) {
      const rollbackMs = Date.now() - failureDetectedAt;
      await ctx.progress(`rolled back ${rollbackMs} ms after the failure was seen`, { rollbackMs });
    }
    return `${created} out of service`;
  },
};

/** A group this deployment created and that never needs keeping: gone, with its launch template. */
const destroyNewGroup: Action = {
  name: 'destroy-new-group',
  async run(ctx) {
    const { cloud } = ctx.deps;
    const created = ctx.deployment.context.group;
    const found = created ? await cloud.getServerGroup(created) : undefined;
    // An undo's retained group, or one of another deployment, is not this one's to destroy; nor one in service.
    if (!created || (found && found.tags?.deployment !== ctx.deployment.id)) return 'nothing created';
    if (found && !found.disabled) return `${created} in service: kept`;
    if (found) await cloud.destroyServerGroup(created);
    await cloud.deleteLaunchTemplate(created).catch(() => undefined);
    return `${created} destroyed`;
  },
};

export const ROLLBACK_ACTIONS: Action[] = [
  restorePreviousGroup,
  waitForPreviousGroupHealth,
  endTrafficSplit,
  takeNewGroupOut,
  destroyNewGroup,
];

/** The actions that turn a deployment back from where its context says it got to. */
export function rollbackPlan(d: Deployment, state: 'rolled-back' | 'cancelled' | 'failed'): Action[] {
  const c = d.context;
  const plan: Action[] = [];
  const split = c.split && !c.split.ended;
  const enabled = c.enabled || c.split?.joined;
  // A split burn-in (AWS) whose new group serves ends first, the new group kept in the cluster's
  // target group: a rollback stopped part-way leaves no weighted forward behind.
  if (split && enabled) plan.push(endTrafficSplit);
  if (c.previous && (c.enabled || c.previousDisabled || c.previousShrunk)) {
    plan.push(restorePreviousGroup, waitForPreviousGroupHealth);
  }
  // One never enabled ends before the new group leaves: the listeners never send to an empty target group.
  if (split && !enabled) plan.push(endTrafficSplit);
  if (c.group) {
    plan.push(takeNewGroupOut);
    if (!c.reuseGroup && (state === 'cancelled' || !c.enabled)) plan.push(destroyNewGroup);
  }
  return plan;
}
