/**
 * The actions a deployment is made of. Each is a small named function, safe to run twice: it
 * looks at what exists before it creates, and keeps what it found on the deployment's context,
 * so an action rerun after a crash picks up where the last attempt stopped.
 */
import type { ServerGroup } from '@slipway/cloud';
import { clusterName, nextServerGroupName, parseServerGroupName } from '@slipway/core';
import {
  DeploymentFailure,
  group,
  HealthFailure,
  interruption,
  look,
  need,
  nap,
  servingTargetGroup,
  targetsHealthy,
  waitEnd,
  type Action,
  type ActionContext,
} from './action.js';
import { resolveParams, type Deployment, type DeploymentParams } from '../deployments/deployment.js';
import { HealthTracker, instanceHealth, runWebCheck } from './health.js';
import { ROLLBACK_ACTIONS } from './rollback.js';
import { sourceOfImage } from './source.js';
import { TrafficWatch } from './traffic-watch.js';
import { splitTraffic, weigh, weighTraffic } from './traffic-split.js';

export * from './action.js';
export { rollbackPlan, ROLLBACK_ACTIONS } from './rollback.js';

/** Instances that exit before they are healthy this many times fail the deployment at once. */
export const CRASH_LIMIT = 3;

/**
 * A group whose instances keep exiting before they are healthy (a crash on start: "Cannot find
 * module …") will not become healthy by waiting for the health timeout: the reason, with the end
 * of the last one's log, or undefined. Exits count from `since`, this wait's start.
 */
export function crashLoop(found: ServerGroup, since: number): string | undefined {
  const exits = (found.recentExits ?? []).filter((e) => Date.parse(e.exitedAt) >= since);
  const last = exits[exits.length - 1];
  if (!last || exits.length < CRASH_LIMIT) return undefined;
  return `${exits.length} instances of ${found.name} exited before they were healthy (the last, ${last.instanceId}: ${last.how ?? 'exited'}); the end of its log:\n${last.logTail}`;
}

/** Probes every instance until each passed `healthyThreshold` times in a row. */
async function waitForInstanceHealth(ctx: ActionContext): Promise<string> {
  const params = need(ctx, 'params');
  const check = params.healthCheck;
  const tracker = new HealthTracker(ctx.deployment.context.healthPasses);
  const timeout = params.strategy.healthTimeoutSeconds * 1000;
  const deadline = await waitEnd(ctx, 'instance-health', timeout);
  // Every second at most (200 ms polls), sooner where the orchestrator polls faster.
  const every = Math.min(check.intervalSeconds * 1000, 1000, ctx.deps.pollMs * 5);
  for (;;) {
    await interruption(ctx);
    const found = await look(ctx, deadline, () => group(ctx));
    if (!found) {
      await nap(ctx, every);
      continue;
    }
    const crashed = crashLoop(found, deadline - timeout);
    if (crashed) throw new DeploymentFailure(crashed);
    const instances = found.instances.filter((i) => i.lifecycle === 'running' && i.address);
    await Promise.all(
      instances.map(async (i) => tracker.record(i.id, await instanceHealth(ctx.deps.cloud.healthSource, i, check))),
    );
    const healthy = instances.filter((i) => tracker.healthy(i.id, check.healthyThreshold));
    if (instances.length > 0 && healthy.length === instances.length) {
      delete ctx.deployment.context.healthPasses;
      const said = `${healthy.length} instance(s) healthy: ${healthy.map((i) => i.id).join(', ')}`;
      // A retained group scaled to zero and back up: the record says how long it took to serve again.
      const scaleUp = ctx.deployment.context.scaleUp;
      if (!scaleUp) return said;
      scaleUp.tookMs ??= Date.now() - scaleUp.at;
      return `${said}; scaled back up from ${scaleUp.from} to ${scaleUp.to} in ${(scaleUp.tookMs / 1000).toFixed(1)} s`;
    }
    if (Date.now() > deadline) {
      // The instances there now, not every one replaced on the way; at most 1000 characters.
      const reasons = instances
        .filter((i) => tracker.reasons.has(i.id))
        .map((i) => `${i.id}: ${tracker.reasons.get(i.id)}`)
        .join('; ')
        .slice(0, 1000);
      throw new DeploymentFailure(
        `instances not healthy within ${params.strategy.healthTimeoutSeconds} s (${healthy.length} of ${instances.length})${reasons ? `: ${reasons}` : ''}`,
      );
    }
    ctx.deployment.context.healthPasses = tracker.passCounts();
    await ctx.progress(`instances healthy: ${healthy.length} of ${instances.length}`);
    await nap(ctx, every);
  }
}

/** Until `desired` instances run (the group's own desired when not given). */
async function waitForRunning(ctx: ActionContext, desired?: number): Promise<string> {
  const params = need(ctx, 'params');
  const timeout = params.strategy.healthTimeoutSeconds * 1000;
  const deadline = await waitEnd(ctx, `running-${desired ?? 'desired'}`, timeout);
  for (;;) {
    await interruption(ctx);
    const found = await look(ctx, deadline, () => group(ctx));
    if (!found) {
      await nap(ctx, ctx.deps.pollMs);
      continue;
    }
    const running = found.instances.filter((i) => i.lifecycle === 'running' && i.address);
    if (running.length >= (desired ?? found.desired)) return `${running.length} instance(s) running`;
    if (found.launchFailure) throw new DeploymentFailure(`the cloud cannot launch instances: ${found.launchFailure}`);
    const crashed = crashLoop(found, deadline - timeout);
    if (crashed) throw new DeploymentFailure(crashed);
    if (Date.now() > deadline) {
      throw new DeploymentFailure(
        `${running.length} of ${desired ?? found.desired} instances running after ${params.strategy.healthTimeoutSeconds} s`,
      );
    }
    await nap(ctx, ctx.deps.pollMs);
  }
}

/** Until the load balancer finds every instance of the group healthy; a hard failure of its traffic ends it. */
async function waitForTargets(ctx: ActionContext, label = 'targets'): Promise<string> {
  const params = need(ctx, 'params');
  const deadline = await waitEnd(ctx, label, params.strategy.healthTimeoutSeconds * 1000);
  // The first healthy target takes traffic: from here on a hard failure is heard.
  using traffic = TrafficWatch.hardFailures(ctx, label);
  for (;;) {
    await interruption(ctx);
    const hard = traffic.hardFailure();
    if (hard) throw healthFailure(ctx, hard);
    const seen = await look(ctx, deadline, () => traffic.race(targetsHealthy(ctx, need(ctx, 'group'))));
    if (!seen) {
      await nap(ctx, ctx.deps.pollMs);
      continue;
    }
    const { healthy, of } = seen;
    if (of > 0 && healthy === of) return `${healthy} target(s) healthy in ${servingTargetGroup(ctx)}`;
    if (Date.now() > deadline) {
      throw new DeploymentFailure(`the load balancer found ${healthy} of ${of} new targets healthy in time`);
    }
    await traffic.sleep(ctx.deps.pollMs);
  }
}

/** The new group failed while taking traffic: the runner's rollback follows. */
function healthFailure(ctx: ActionContext, failure: string): HealthFailure {
  ctx.deployment.context.failureDetectedAt ??= Date.now(); // a hard failure was heard earlier
  ctx.deps.logger.warn({ deployment: ctx.deployment.id, failure }, 'health failure: rolling back');
  return new HealthFailure(failure);
}

const resolveImage: Action = {
  name: 'resolve-image',
  async run(ctx) {
    const { image, service, context } = ctx.deployment;
    // Checked at submission a moment ago: a deployment that waited in the queue checks again.
    if (context.imageCheckedAt && Date.now() - context.imageCheckedAt < 60_000) {
      return `${image}: ${service} ${context.imageVersion ?? ''} (checked at submission)`.trim();
    }
    const found = await ctx.deps.peers.image(image);
    if (!found) throw new DeploymentFailure(`no image ${image}`);
    if (found.kind !== 'service' || found.service !== service) {
      throw new DeploymentFailure(`image ${image} is not an image of ${service}`);
    }
    Object.assign(ctx.deployment.context, { imageVersion: found.version }, await sourceOfImage(ctx.deps.peers, found));
    const source = ctx.deployment.context.sourceCommit;
    return `${image}: ${service} ${found.version ?? ''}${source ? ` from ${source.slice(0, 12)}` : ''}`.trim();
  },
};

const resolveConfig: Action = {
  name: 'resolve-config',
  async run(ctx) {
    const d = ctx.deployment;
    const said = () =>
      `config ${d.context.commit!.slice(0, 12)}, ${d.context.params!.strategy.name}, ${d.context.params!.capacity.desired} instance(s)`;
    // Read and validated at submission, at a commit (immutable): nothing to read again.
    if (d.context.commit && d.context.params && d.context.userData && d.context.targetGroup) return said();
    // Once resolved, the commit is pinned: a rerun reads the same commit, not the branch again.
    const config = await ctx.deps.peers.config(d.service, d.env, d.context.commit ?? d.configRef);
    if (!config.valid || !config.deploymentParams) {
      throw new DeploymentFailure(
        `configuration ${config.commit.slice(0, 12)} is not valid: ${config.errors.map((e) => `${e.file ?? ''} ${e.path} ${e.message}`).join('; ')}`,
      );
    }
    d.context.commit = config.commit;
    d.context.params = resolveParams(config.deploymentParams, d.params, d.strategy);
    d.context.targetGroup = d.context.params.loadBalancer.name;
    d.context.userData = { files: { 'application.properties': config.properties }, commands: config.launchData ?? [] };
    // A configuration read from a clone the config service could not fetch says so, and how old.
    return config.stale ? `${said()} (from a stale clone: ${config.stale})` : said();
  },
};

/**
 * The group to go back to: the newest that finished vetting (a succeeded deployment put it in
 * service), in service if one is. A group of a deployment that never succeeded — one whose lease
 * ran out while its group served, say — is never a rollback target.
 */
const findCurrentGroup: Action = {
  name: 'find-current-group',
  async run(ctx) {
    const d = ctx.deployment;
    if (d.context.existing) return `previous: ${d.context.previous ?? 'none'}`;
    const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
    const vetted = new Set(await ctx.deps.store.vetted(d.service, d.env));
    const mine = (g: ServerGroup) => g.name === d.context.group;
    const confirmed = d.context.confirmed;
    const serving = [...groups].reverse().find((g) => !g.disabled && !mine(g));
    const same =
      (serving?.name ?? null) === confirmed?.from ||
      (confirmed?.image != null &&
        serving?.tags?.image === confirmed.image &&
        (serving?.tags?.commit ?? null) === (confirmed.commit ?? null));
    if (confirmed && !same)
      throw new DeploymentFailure(
        `${confirmed.by === 'release' ? 'the release checked' : confirmed.by ? `the ${confirmed.by} went back from` : 'the confirmation named'} ${confirmed.said}; ${d.service} ${d.env} changed since: ${serving ? `${serving.tags?.image ?? serving.name} serves now (${serving.name}${serving.tags?.deployment ? `, deployed by ${serving.tags.deployment}` : ''})` : 'nothing serves now'}. Nothing was changed: ${confirmed.by === 'undo' || confirmed.by === 'revert' ? `${confirmed.by} again to go back from what serves now` : 'preview it again and confirm what it would do now'}`,
      );
    const candidates = groups.filter((g) => vetted.has(g.name) && !mine(g));
    const previous = candidates.filter((g) => !g.disabled).at(-1) ?? candidates.at(-1);
    d.context.existing = groups.map((g) => g.name);
    if (previous) {
      d.context.previous = previous.name;
      // Scaled to zero by retention: it goes back at the size the deployment-params name.
      const { min, desired, max } = previous.desired === 0 && d.context.params ? d.context.params.capacity : previous;
      d.context.previousCapacity = { min, desired, max };
    }
    if (d.context.group && groups.some((g) => mine(g) && g.disabled)) d.context.reuseGroup = true;
    else if (d.context.group && !groups.some(mine)) delete d.context.group;
    const unvetted = groups.filter((g) => !g.disabled && !vetted.has(g.name) && !mine(g)).map((g) => g.name);
    return `previous: ${previous?.name ?? 'none'}${previous?.disabled ? ' (retained, out of service)' : ''}${unvetted.length ? `; in service but never vetted: ${unvetted.join(', ')}` : ''}${d.context.reuseGroup ? `; re-enabling retained ${d.context.group}` : ''}`;
  },
};

/**
 * The next number after the newest group this cluster had — existing, or made by a recent
 * deployment and destroyed since (a cancel): a name is never used twice in a row, since on AWS a
 * group still being deleted holds its name.
 */
const nameNextGroup: Action = {
  name: 'name-next-group',
  async run(ctx) {
    const d = ctx.deployment;
    if (d.context.group) return d.context.group;
    const existing = d.context.existing ?? [];
    const recent = (await ctx.deps.store.list({ service: d.service, env: d.env, limit: 20 })).items
      .filter((other) => other.id !== d.id && other.context.group)
      .map((other) => other.context.group!);
    const latest = [...existing, ...recent].reduce<string | undefined>(
      (newest, name) => (!newest || sequenceOf(name) > sequenceOf(newest) ? name : newest),
      undefined,
    );
    d.context.group = nextServerGroupName(d.service, d.env, latest, [...existing, ...recent]);
    return d.context.group;
  },
};

const sequenceOf = (name: string) => parseServerGroupName(name)?.sequence ?? -1;

const createLaunchTemplate: Action = {
  name: 'create-launch-template',
  async run(ctx) {
    if (ctx.deployment.context.reuseGroup) return 'kept (retained group)';
    const params = need(ctx, 'params');
    const template = await ctx.deps.cloud.createLaunchTemplate({
      name: need(ctx, 'group'),
      imageId: ctx.deployment.context.machineImage ?? ctx.deployment.image,
      instanceType: params.instanceType,
      userData: need(ctx, 'userData'),
      ...launchSecurity(params),
      tags: { deployment: ctx.deployment.id, commit: need(ctx, 'commit') },
    });
    return `${template.name} from ${template.imageId}`;
  },
};

/** The security groups and instance profile deployment-params.json names for the instances. */
function launchSecurity(params: DeploymentParams) {
  return {
    ...(params.securityGroups?.length ? { securityGroups: params.securityGroups } : {}),
    ...(params.instanceProfile ? { instanceProfile: params.instanceProfile } : {}),
  };
}

/** Progressive starts with one instance; the others with all of them. */
const createServerGroup: Action = {
  name: 'create-server-group',
  async run(ctx) {
    const firstBatchOnly = ctx.deployment.strategy === 'progressive';
    const params = need(ctx, 'params');
    const name = need(ctx, 'group');
    const capacity = firstBatchOnly
      ? {
          min: Math.min(1, params.capacity.desired),
          desired: Math.min(1, params.capacity.desired),
          max: params.capacity.max,
        }
      : params.capacity;
    const existing = await ctx.deps.cloud.getServerGroup(name);
    if (existing) {
      if (ctx.deployment.context.reuseGroup && existing.desired < capacity.desired) {
        // Saved first: the health wait says how long a group scaled down took to serve again.
        if (!ctx.deployment.context.scaleUp) {
          ctx.deployment.context.scaleUp = { from: existing.desired, to: capacity.desired, at: Date.now() };
          await ctx.save();
        }
        await ctx.deps.cloud.resizeServerGroup(name, capacity);
        return `${name} resized from ${existing.desired} to ${capacity.desired}`;
      }
      return `${name} exists`;
    }
    await ctx.deps.cloud.createServerGroup({
      name,
      launchTemplate: name,
      ...capacity,
      targetGroups: [need(ctx, 'targetGroup')],
      disabled: true,
      healthCheckGracePeriodSeconds: params.healthCheck.gracePeriodSeconds,
      tags: { deployment: ctx.deployment.id, image: ctx.deployment.image, commit: need(ctx, 'commit') },
    });
    return `${name}: ${capacity.desired} instance(s), out of service`;
  },
};

const waitForInstancesRunning: Action = {
  name: 'wait-for-instances-running',
  run: (ctx) => waitForRunning(ctx),
};

const waitForHealth: Action = { name: 'wait-for-instance-health', run: waitForInstanceHealth };

const enableNewGroup: Action = {
  name: 'enable-new-group',
  async run(ctx) {
    const d = ctx.deployment;
    // Write-ahead: a rollback must know the new group may be taking traffic.
    if (!d.context.enabled) {
      d.context.enabled = true;
      try {
        // With nothing served before it, the cluster will have this group only: no way back.
        if (!d.context.previous) await ctx.irrevocable('nothing to go back to: no group served before it');
        else await ctx.save();
      } catch (error) {
        delete d.context.enabled;
        throw error;
      }
    }
    await ctx.deps.cloud.enableServerGroup(need(ctx, 'group'));
    return `${d.context.group} in service`;
  },
};

const waitForLoadBalancerHealth: Action = {
  name: 'wait-for-load-balancer-health',
  run: (ctx) => waitForTargets(ctx),
};

/**
 * Watches the new group taking traffic: its instances' own checks, the load balancer's view, the
 * web checks and its real traffic against the old group's (traffic-watch.ts). A failure is a
 * HealthFailure: the runner's rollback actions put the old group back.
 */
async function watch(ctx: ActionContext, seconds: number, label: string, waitName: string): Promise<string> {
  const params = need(ctx, 'params');
  const check = params.healthCheck;
  const tracker = new HealthTracker();
  const webFailures = new Map<string, number>();
  const webNext = new Map<string, number>();
  // A watch run again after a crash looks long enough to see a failure, even if its time is up;
  // a first run watches the time chosen (a burn-in of 0 looks once).
  const again = ctx.deployment.context.waits?.[waitName] !== undefined;
  const chosen = await waitEnd(ctx, waitName, seconds * 1000);
  const end = again ? Math.max(chosen, Date.now() + (check.unhealthyThreshold + 1) * ctx.deps.pollMs) : chosen;
  // A cloud that does not answer is looked at again, for as long as an instance may take to be healthy.
  const giveUp = end + params.strategy.healthTimeoutSeconds * 1000;
  let lastSaid = -1;
  using traffic = TrafficWatch.start(ctx, waitName, end - seconds * 1000, seconds);
  for (;;) {
    await interruption(ctx);
    let failure = traffic.hardFailure();
    const found = await look(ctx, giveUp, () => traffic.race(group(ctx)));
    const instances = (found?.instances ?? []).filter((i) => i.lifecycle === 'running' && i.address);
    // A hard failure ends the probes' wait at once, and the look's cloud call; a look saving that
    // the cloud did not answer (progress) is let finish first, so that the turn back is saved
    // after it: saved beside it, one of the two is refused, and the run that heard it stops.
    const [probed, seen] = await Promise.allSettled([
      traffic.race(
        Promise.all(
          instances.map(async (i) => [i.id, await instanceHealth(ctx.deps.cloud.healthSource, i, check)] as const),
        ),
      ),
      found && look(ctx, giveUp, () => traffic.race(ctx.deps.cloud.describeTargetHealth(servingTargetGroup(ctx)))),
    ]);
    if (probed.status === 'rejected') throw probed.reason;
    if (seen.status === 'rejected') throw seen.reason;
    const [results, targets] = [probed.value, seen.value];
    if (!targets && !failure) {
      await nap(ctx, ctx.deps.pollMs);
      continue;
    }
    for (const [id, reason] of results) tracker.record(id, reason);
    failure ??= instances
      .filter((i) => tracker.unhealthy(i.id, check.unhealthyThreshold))
      .map(
        (i) =>
          `instance ${i.id} failed its health check ${check.unhealthyThreshold} times: ${tracker.reasons.get(i.id)}`,
      )[0];
    failure ??= (targets ?? [])
      .filter((t) => instances.some((i) => i.id === t.instanceId) && t.state === 'unhealthy')
      .map((t) => `the load balancer finds ${t.instanceId} unhealthy: ${t.reason ?? ''}`)[0];
    for (const web of params.checks) {
      if ((webNext.get(web.name) ?? 0) > Date.now()) continue;
      webNext.set(web.name, Date.now() + web.intervalSeconds * 1000);
      const reason = await runWebCheck(web);
      const count = reason ? (webFailures.get(web.name) ?? 0) + 1 : 0;
      webFailures.set(web.name, count);
      if (reason && count >= web.failureLimit) failure ??= `check ${reason} (${count} times)`;
    }
    failure ??= await traffic.look();
    const concluded = !failure && Date.now() >= end ? await traffic.conclude() : undefined;
    failure ??= concluded?.failure;
    if (failure) throw healthFailure(ctx, failure);
    if (concluded) return `${label}: ${seconds} s watched, healthy${concluded.said ? `; ${concluded.said}` : ''}`;
    const left = Math.ceil((end - Date.now()) / 1000);
    if (left !== lastSaid) {
      lastSaid = left;
      await ctx.progress(`${label} ${left} s left`, { secondsLeft: left });
    }
    await traffic.sleep(Math.min(ctx.deps.pollMs, Math.max(end - Date.now(), 0)));
  }
}

const burnIn: Action = {
  name: 'burn-in',
  run: (ctx) => watch(ctx, need(ctx, 'params').strategy.burnInSeconds, 'burn-in', 'burn-in'),
};

/** Wealthfront's batches: 1 is in; then 2, 4, 8 … more until all are, the old group shrinking as many. */
const growInBatches: Action = {
  name: 'grow-in-batches',
  async run(ctx) {
    const params = need(ctx, 'params');
    const { cloud } = ctx.deps;
    const name = need(ctx, 'group');
    const target = params.capacity.desired;
    const sizes: number[] = [];
    for (let size = 1, batch = params.strategy.batchGrowth; size < target; batch *= params.strategy.batchGrowth) {
      size = Math.min(target, size + Math.round(batch));
      sizes.push(size);
    }
    for (const [index, size] of sizes.entries()) {
      const current = await group(ctx);
      if (current.desired < size)
        await cloud.resizeServerGroup(name, {
          ...params.capacity,
          min: Math.min(params.capacity.min, size),
          desired: size,
        });
      await ctx.progress(`batch ${index + 1} of ${sizes.length}: ${size} of ${target} instances`, {
        batch: index + 1,
        of: sizes.length,
      });
      await waitForRunning(ctx, size);
      await waitForTargets(ctx, `targets-${size}`);
      const previous = ctx.deployment.context.previous;
      const before = ctx.deployment.context.previousCapacity;
      if (previous && before) {
        const keep = Math.max(before.desired - size, 0);
        // Where the traffic is split (AWS), the listeners' shares follow the sizes: before the old group shrinks.
        await weigh(ctx, { group: size, others: keep });
        const old = await cloud.getServerGroup(previous);
        if (old && old.desired > keep) {
          if (!ctx.deployment.context.previousShrunk) {
            ctx.deployment.context.previousShrunk = true;
            await ctx.save();
          }
          await cloud.resizeServerGroup(previous, { min: Math.min(old.min, keep), desired: keep, max: old.max });
        }
      }
      await watch(
        ctx,
        Math.min(params.strategy.burnInSeconds, 5),
        `batch ${index + 1} of ${sizes.length} watched,`,
        `batch-${size}`,
      );
    }
    return sizes.length ? `grew in ${sizes.length} batch(es) to ${target}` : `${target} instance(s): no batches needed`;
  },
};

/**
 * The end of a split burn-in that passed (traffic-split.ts): the new group joins the cluster's
 * target group, and once its targets are healthy there the listeners forward to that one alone
 * and the group's own target group is deleted — before the old group leaves, so that the
 * cluster's target group never lacks healthy targets.
 */
const joinTraffic: Action = {
  name: 'join-traffic',
  async run(ctx) {
    const { cloud } = ctx.deps;
    const split = ctx.deployment.context.split;
    if (!split?.targetGroup || split.ended || !cloud.joinTraffic || !cloud.endTrafficSplit) return 'traffic not split';
    const [targetGroup, name] = [need(ctx, 'targetGroup'), need(ctx, 'group')];
    if (!split.joined) {
      // Write-ahead: the new group's health is read from the cluster's target group from here on.
      split.joined = true;
      await ctx.save();
    }
    await cloud.joinTraffic(targetGroup, name);
    const healthy = await waitForTargets(ctx, 'targets-joined');
    await cloud.endTrafficSplit(targetGroup, name, { keep: true });
    split.ended = true;
    return `${healthy}; the load balancer forwards to ${targetGroup} alone, ${split.targetGroup} deleted`;
  },
};

const disableOldGroup: Action = {
  name: 'disable-old-group',
  async run(ctx) {
    const d = ctx.deployment;
    const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
    const others = groups.filter((g) => g.name !== d.context.group && !g.disabled);
    if (others.length && !d.context.previousDisabled) {
      d.context.previousDisabled = true;
      await ctx.save();
    }
    for (const other of others) await ctx.deps.cloud.disableServerGroup(other.name);
    return others.length ? `${others.map((g) => g.name).join(', ')} out of service, kept warm` : 'no old group';
  },
};

/** Until the load balancer has let go of the old groups' instances (none registered or draining), drainSeconds at most. */
const waitForDrain: Action = {
  name: 'wait-for-drain',
  async run(ctx) {
    const d = ctx.deployment;
    // A first deployment took no group out of service: nothing is in flight to wait for.
    if (!d.context.previous) return 'no old group: nothing to drain';
    const seconds = need(ctx, 'params').strategy.drainSeconds;
    const end = await waitEnd(ctx, 'drain', seconds * 1000);
    const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
    const old = new Set(groups.filter((g) => g.name !== d.context.group).flatMap((g) => g.instances.map((i) => i.id)));
    const started = Date.now();
    for (;;) {
      await interruption(ctx);
      // A load balancer that does not answer is asked again until the drain's time is up (it is bounded anyway).
      const health = await look(ctx, Infinity, () => ctx.deps.cloud.describeTargetHealth(need(ctx, 'targetGroup')));
      const left = health?.filter((t) => old.has(t.instanceId) && t.state !== 'unused');
      if (left?.length === 0)
        return `the old targets left the load balancer in ${Math.round((Date.now() - started) / 1000)} s`;
      if (Date.now() >= end)
        return `${left ? `${left.length} old target(s)` : 'the old targets'} still draining after ${seconds} s: going on`;
      await nap(ctx, Math.min(ctx.deps.pollMs, Math.max(end - Date.now(), 0)));
    }
  },
};

/**
 * Highlander keeps none of the old groups; the others keep `retainedGroups`, by last known good: a
 * group kept warm is one that served successfully (vetted, newest first), so a rolled-back or
 * cancelled group goes before any of them — never the group serving a minute ago, the one to go
 * back to. Keeping none is the point of no return: saved as such first, so a cancel or rollback
 * from then on is refused in words rather than turning back to nothing.
 */
const destroyOldGroups: Action = {
  name: 'destroy-old-groups',
  async run(ctx) {
    const d = ctx.deployment;
    const retained = d.strategy === 'highlander' ? 0 : need(ctx, 'params').strategy.retainedGroups;
    const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
    const vetted = new Set(await ctx.deps.store.vetted(d.service, d.env));
    const older = groups.filter((g) => g.name !== d.context.group && g.disabled).reverse();
    const ranked = [...older.filter((g) => vetted.has(g.name)), ...older.filter((g) => !vetted.has(g.name))];
    const previous = d.context.previous;
    const doomed = ranked.slice(retained).filter((g) => retained === 0 || g.name !== previous);
    if (previous && doomed.some((g) => g.name === previous) && !d.irrevocable) {
      await ctx.irrevocable(
        `nothing to go back to: ${d.strategy === 'highlander' ? 'highlander keeps no old group' : 'retained groups is 0'}`,
      );
    }
    // The new group serves and the old ones are out: a group the cloud will not destroy now is
    // left, said, and destroyed by the next deployment, never a reason to roll a healthy one back.
    const destroyed: string[] = [];
    const left: string[] = [];
    for (const old of doomed) {
      try {
        await ctx.deps.cloud.destroyServerGroup(old.name);
      } catch (error) {
        ctx.deps.logger.warn({ deployment: d.id, group: old.name, err: error }, 'old group left');
        left.push(`left ${old.name}: ${(error as Error).message} (the next deployment destroys it)`);
        continue;
      }
      destroyed.push(old.name);
      await ctx.deps.store.forgetVetted(d.service, d.env, old.name);
      await ctx.deps.cloud.deleteLaunchTemplate(old.launchTemplate).catch(() => undefined);
    }
    const said = (name: string) => `${name}${vetted.has(name) ? '' : ' (never served successfully)'}`;
    const kept = ranked.filter((g) => !doomed.includes(g)).map((g) => said(g.name));
    return [
      `destroyed ${destroyed.map(said).join(', ') || 'none'}`,
      ...left,
      `retained ${kept.join(', ') || 'none'}`,
    ].join('; ');
  },
};

const record: Action = {
  name: 'record',
  async run(ctx) {
    const d = ctx.deployment;
    await ctx.deps.store.recordServed(d.service, d.env, {
      deployment: d.id,
      image: d.image,
      commit: need(ctx, 'commit'),
      group: need(ctx, 'group'),
      at: new Date().toISOString(),
      ...(d.context.imageVersion ? { version: d.context.imageVersion } : {}),
      region: d.context.params?.region ?? null,
    });
    return `${d.service} ${d.env}: ${d.image} with config ${need(ctx, 'commit').slice(0, 12)} on ${d.context.group}`;
  },
};

const common = [resolveImage, resolveConfig, findCurrentGroup, nameNextGroup, createLaunchTemplate];
/** The new group made, healthy, taking its share of traffic and watched. */
const upToBurnIn = [
  createServerGroup,
  waitForInstancesRunning,
  waitForHealth,
  splitTraffic,
  enableNewGroup,
  waitForLoadBalancerHealth,
  weighTraffic,
  burnIn,
];
/** All traffic to the new group, the old one out of service, drained, retained or destroyed. */
const handOver = [joinTraffic, disableOldGroup, waitForDrain, destroyOldGroups, record];

/**
 * The actions of each strategy, top to bottom as the seed's list of steps. Highlander differs from
 * red-black in what `destroy-old-groups` keeps (nothing), progressive in growing in batches.
 */
export const STRATEGIES: Record<Deployment['strategy'], Action[]> = {
  'red-black': [...common, ...upToBurnIn, ...handOver],
  progressive: [...common, ...upToBurnIn, growInBatches, ...handOver],
  highlander: [...common, ...upToBurnIn, ...handOver],
};

/** Every action by the name saved on a deployment: a deployment runs what it recorded, not today's list. */
export const ACTIONS: ReadonlyMap<string, Action> = new Map(
  [...Object.values(STRATEGIES).flat(), ...ROLLBACK_ACTIONS].map((a) => [a.name, a]),
);
