/**
 * The actions a deployment is made of. Each is a small named function, safe to run twice: it
 * looks at what exists before it creates, and keeps what it found on the deployment's context,
 * so an action rerun after a crash picks up where the last attempt stopped.
 */
import type { CloudProvider, ServerGroup } from '@slipway/cloud';
import { clusterName, nextServerGroupName, type Logger } from '@slipway/core';
import { resolveParams, type Deployment, type DeploymentContext, type DeploymentParams } from './deployment.js';
import { HealthTracker, instanceHealth, runWebCheck } from './health.js';
import type { Peers } from './peers.js';
import type { Control, DeploymentStore } from './store.js';

export interface ActionDeps {
  cloud: CloudProvider;
  peers: Peers;
  store: DeploymentStore;
  logger: Logger;
  /** How often waits look again (health, instances, control requests). */
  pollMs: number;
}

export interface ActionContext {
  deployment: Deployment;
  deps: ActionDeps;
  /** Saves the context and tells the followers, e.g. "burn-in 12 s left". */
  progress(text: string, data?: Record<string, unknown>): Promise<void>;
}

export interface Action {
  name: string;
  run(ctx: ActionContext): Promise<string>;
}

/** A failure retrying will not fix: the deployment ends (rolled back when it took traffic). */
export class DeploymentFailure extends Error {}

/** The new group failed while taking traffic and the old one is serving again. */
export class RolledBack extends Error {}

/** A person asked to cancel or roll back while an action was waiting. */
export class Interrupted extends Error {
  constructor(
    readonly kind: 'cancel' | 'rollback',
    readonly by: string,
  ) {
    super(`${kind} asked by ${by}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function interruption(ctx: ActionContext): Promise<void> {
  const control: Control = await ctx.deps.store.control(ctx.deployment.id);
  if (control.cancel) throw new Interrupted('cancel', control.cancel);
  if (control.rollback) throw new Interrupted('rollback', control.rollback);
}

function need<K extends keyof DeploymentContext>(ctx: ActionContext, key: K): NonNullable<DeploymentContext[K]> {
  const value = ctx.deployment.context[key];
  if (value === undefined) throw new Error(`${String(key)} is not known yet: an earlier action did not run`);
  return value as NonNullable<DeploymentContext[K]>;
}

async function group(ctx: ActionContext): Promise<ServerGroup> {
  const found = await ctx.deps.cloud.getServerGroup(need(ctx, 'group'));
  if (!found) throw new DeploymentFailure(`server group ${ctx.deployment.context.group} is gone`);
  return found;
}

/** Probes every instance until each passed `healthyThreshold` times in a row. */
async function waitForInstanceHealth(ctx: ActionContext): Promise<string> {
  const params = need(ctx, 'params');
  const check = params.healthCheck;
  const tracker = new HealthTracker();
  const deadline = Date.now() + params.strategy.healthTimeoutSeconds * 1000;
  const every = Math.min(check.intervalSeconds * 1000, 1000);
  for (;;) {
    await interruption(ctx);
    const instances = (await group(ctx)).instances.filter((i) => i.lifecycle === 'running' && i.address);
    await Promise.all(
      instances.map(async (i) => tracker.record(i.id, await instanceHealth(ctx.deps.cloud.healthSource, i, check))),
    );
    const healthy = instances.filter((i) => tracker.healthy(i.id, check.healthyThreshold));
    if (instances.length > 0 && healthy.length === instances.length) {
      return `${healthy.length} instance(s) healthy: ${healthy.map((i) => i.id).join(', ')}`;
    }
    if (Date.now() > deadline) {
      const reasons = [...tracker.reasons].map(([id, why]) => `${id}: ${why}`).join('; ');
      throw new DeploymentFailure(
        `instances not healthy within ${params.strategy.healthTimeoutSeconds} s (${healthy.length} of ${instances.length})${reasons ? `: ${reasons}` : ''}`,
      );
    }
    await ctx.progress(`instances healthy: ${healthy.length} of ${instances.length}`);
    await sleep(every);
  }
}

async function waitForRunning(ctx: ActionContext, desired: number): Promise<string> {
  const params = need(ctx, 'params');
  const deadline = Date.now() + params.strategy.healthTimeoutSeconds * 1000;
  for (;;) {
    await interruption(ctx);
    const found = await group(ctx);
    const running = found.instances.filter((i) => i.lifecycle === 'running' && i.address);
    if (running.length >= desired) return `${running.length} instance(s) running`;
    if (found.launchFailure) throw new DeploymentFailure(`the cloud cannot launch instances: ${found.launchFailure}`);
    if (Date.now() > deadline) {
      throw new DeploymentFailure(
        `${running.length} of ${desired} instances running after ${params.strategy.healthTimeoutSeconds} s`,
      );
    }
    await sleep(ctx.deps.pollMs);
  }
}

/** Until the load balancer finds every instance of the group healthy. */
async function waitForTargets(ctx: ActionContext): Promise<string> {
  const params = need(ctx, 'params');
  const deadline = Date.now() + params.strategy.healthTimeoutSeconds * 1000;
  for (;;) {
    await interruption(ctx);
    const { healthy, of } = await targetsHealthy(ctx, need(ctx, 'group'));
    if (of > 0 && healthy === of) return `${healthy} target(s) healthy in ${need(ctx, 'targetGroup')}`;
    if (Date.now() > deadline) {
      throw new DeploymentFailure(`the load balancer found ${healthy} of ${of} new targets healthy in time`);
    }
    await sleep(ctx.deps.pollMs);
  }
}

/** How many of a group's running instances the load balancer finds healthy. */
async function targetsHealthy(ctx: ActionContext, groupName: string): Promise<{ healthy: number; of: number }> {
  const found = await ctx.deps.cloud.getServerGroup(groupName);
  const ids = (found?.instances ?? []).filter((i) => i.lifecycle === 'running').map((i) => i.id);
  const health = await ctx.deps.cloud.describeTargetHealth(need(ctx, 'targetGroup'));
  return {
    healthy: ids.filter((id) => health.find((t) => t.instanceId === id)?.state === 'healthy').length,
    of: ids.length,
  };
}

/**
 * Puts the previous group back in service and takes the new one out: the automatic
 * rollback, a cancel, a manual rollback. When the previous group was still in service (the
 * burn-in), this is one deregistration and traffic is back on it at once.
 */
export async function restorePrevious(ctx: ActionContext): Promise<string> {
  const { cloud } = ctx.deps;
  const { previous, previousCapacity, group: created } = ctx.deployment.context;
  const said: string[] = [];
  if (previous && (await cloud.getServerGroup(previous))) {
    const before = (await cloud.getServerGroup(previous))!;
    if (previousCapacity && before.desired < previousCapacity.desired) {
      await cloud.resizeServerGroup(previous, previousCapacity);
      said.push(`${previous} resized back to ${previousCapacity.desired}`);
    }
    if (before.disabled || (previousCapacity && before.desired < previousCapacity.desired)) {
      await cloud.enableServerGroup(previous);
      // Its instances must pass the load balancer's checks before the new group leaves.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { healthy, of } = await targetsHealthy(ctx, previous);
        if ((of > 0 && healthy === of) || Date.now() > deadline) break;
        await sleep(ctx.deps.pollMs);
      }
    }
    said.push(`${previous} in service`);
  }
  if (created && (await cloud.getServerGroup(created))) {
    await cloud.disableServerGroup(created);
    said.push(`${created} out of service`);
  }
  return said.join('; ');
}

const resolveImage: Action = {
  name: 'resolve-image',
  async run(ctx) {
    const { image, service } = ctx.deployment;
    const found = await ctx.deps.peers.image(image);
    if (!found) throw new DeploymentFailure(`no image ${image}`);
    if (found.kind !== 'service' || found.service !== service) {
      throw new DeploymentFailure(`image ${image} is not an image of ${service}`);
    }
    ctx.deployment.context.imageVersion = found.version;
    return `${image}: ${service} ${found.version ?? ''}`.trim();
  },
};

const resolveConfig: Action = {
  name: 'resolve-config',
  async run(ctx) {
    const d = ctx.deployment;
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
    const stale = config.stale ? ` (from a stale clone: ${config.stale})` : '';
    return `config ${config.commit.slice(0, 12)}${stale}, ${d.context.params.strategy.name}, ${d.context.params.capacity.desired} instance(s)`;
  },
};

const findCurrentGroup: Action = {
  name: 'find-current-group',
  async run(ctx) {
    const d = ctx.deployment;
    if (d.context.existing) return `previous: ${d.context.previous ?? 'none'}`;
    const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
    const mine = (g: ServerGroup) => g.name === d.context.group;
    const inService = groups.filter((g) => !g.disabled && !mine(g));
    const previous = inService[inService.length - 1];
    d.context.existing = groups.map((g) => g.name);
    if (previous) {
      d.context.previous = previous.name;
      d.context.previousCapacity = { min: previous.min, desired: previous.desired, max: previous.max };
    }
    if (d.context.group && groups.some((g) => mine(g) && g.disabled)) d.context.reuseGroup = true;
    else if (d.context.group && !groups.some(mine)) delete d.context.group;
    return `previous: ${previous?.name ?? 'none'}${d.context.reuseGroup ? `; re-enabling retained ${d.context.group}` : ''}`;
  },
};

const nameNextGroup: Action = {
  name: 'name-next-group',
  async run(ctx) {
    const d = ctx.deployment;
    if (d.context.group) return d.context.group;
    const existing = d.context.existing ?? [];
    d.context.group = nextServerGroupName(d.service, d.env, existing[existing.length - 1], existing);
    return d.context.group;
  },
};

const createLaunchTemplate: Action = {
  name: 'create-launch-template',
  async run(ctx) {
    if (ctx.deployment.context.reuseGroup) return 'kept (retained group)';
    const params = need(ctx, 'params');
    const template = await ctx.deps.cloud.createLaunchTemplate({
      name: need(ctx, 'group'),
      imageId: ctx.deployment.image,
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

function createServerGroup(firstBatchOnly: boolean): Action {
  return {
    name: 'create-server-group',
    async run(ctx) {
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
          await ctx.deps.cloud.resizeServerGroup(name, capacity);
          return `${name} resized to ${capacity.desired}`;
        }
        return `${name} exists`;
      }
      await ctx.deps.cloud.createServerGroup({
        name,
        launchTemplate: name,
        ...capacity,
        targetGroups: [need(ctx, 'targetGroup')],
        disabled: true,
        tags: { deployment: ctx.deployment.id, image: ctx.deployment.image, commit: need(ctx, 'commit') },
      });
      return `${name}: ${capacity.desired} instance(s), out of service`;
    },
  };
}

const waitForInstancesRunning: Action = {
  name: 'wait-for-instances-running',
  run: async (ctx) => waitForRunning(ctx, (await group(ctx)).desired),
};

const waitForHealth: Action = { name: 'wait-for-instance-health', run: waitForInstanceHealth };

const enableNewGroup: Action = {
  name: 'enable-new-group',
  async run(ctx) {
    await ctx.deps.cloud.enableServerGroup(need(ctx, 'group'));
    ctx.deployment.context.enabled = true;
    return `${ctx.deployment.context.group} in service`;
  },
};

const waitForLoadBalancerHealth: Action = { name: 'wait-for-load-balancer-health', run: waitForTargets };

/**
 * Watches the new group taking traffic: its instances' own checks, the load balancer's view and
 * the web checks. A failure puts the old group (still in service) back alone, in this action.
 */
async function watch(ctx: ActionContext, seconds: number, label: string): Promise<string> {
  const params = need(ctx, 'params');
  const check = params.healthCheck;
  const tracker = new HealthTracker();
  const webFailures = new Map<string, number>();
  const webNext = new Map<string, number>();
  const started = Date.now();
  const end = started + seconds * 1000;
  let lastSaid = -1;
  for (;;) {
    await interruption(ctx);
    const instances = (await group(ctx)).instances.filter((i) => i.lifecycle === 'running' && i.address);
    const [results, targets] = await Promise.all([
      Promise.all(
        instances.map(async (i) => [i.id, await instanceHealth(ctx.deps.cloud.healthSource, i, check)] as const),
      ),
      ctx.deps.cloud.describeTargetHealth(need(ctx, 'targetGroup')),
    ]);
    for (const [id, reason] of results) tracker.record(id, reason);
    let failure = instances
      .filter((i) => tracker.unhealthy(i.id, check.unhealthyThreshold))
      .map(
        (i) =>
          `instance ${i.id} failed its health check ${check.unhealthyThreshold} times: ${tracker.reasons.get(i.id)}`,
      )[0];
    failure ??= targets
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
    if (failure) {
      const detected = Date.now();
      const restored = await restorePrevious(ctx);
      ctx.deps.logger.warn({ deployment: ctx.deployment.id, failure, restoreMs: Date.now() - detected }, 'rolled back');
      await ctx.progress(`rolled back in ${Date.now() - detected} ms: ${restored}`, {
        rollbackMs: Date.now() - detected,
      });
      throw new RolledBack(failure);
    }
    if (Date.now() >= end) return `${label}: ${seconds} s watched, healthy`;
    const left = Math.ceil((end - Date.now()) / 1000);
    if (left !== lastSaid) {
      lastSaid = left;
      await ctx.progress(`${label} ${left} s left`);
    }
    await sleep(Math.min(ctx.deps.pollMs, Math.max(end - Date.now(), 0)));
  }
}

const burnIn: Action = {
  name: 'burn-in',
  run: (ctx) => watch(ctx, need(ctx, 'params').strategy.burnInSeconds, 'burn-in'),
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
      await waitForTargets(ctx);
      const previous = ctx.deployment.context.previous;
      const before = ctx.deployment.context.previousCapacity;
      if (previous && before) {
        const keep = Math.max(before.desired - size, 0);
        const old = await cloud.getServerGroup(previous);
        if (old && old.desired > keep)
          await cloud.resizeServerGroup(previous, { min: Math.min(old.min, keep), desired: keep, max: old.max });
      }
      await watch(ctx, Math.min(params.strategy.burnInSeconds, 5), `batch ${index + 1} of ${sizes.length} watched,`);
    }
    return sizes.length ? `grew in ${sizes.length} batch(es) to ${target}` : `${target} instance(s): no batches needed`;
  },
};

const disableOldGroup: Action = {
  name: 'disable-old-group',
  async run(ctx) {
    const d = ctx.deployment;
    const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
    const others = groups.filter((g) => g.name !== d.context.group && !g.disabled);
    for (const other of others) await ctx.deps.cloud.disableServerGroup(other.name);
    d.context.previousDisabled = true;
    return others.length ? `${others.map((g) => g.name).join(', ')} out of service, kept warm` : 'no old group';
  },
};

const waitForDrain: Action = {
  name: 'wait-for-drain',
  async run(ctx) {
    // A first deployment took no group out of service: nothing is in flight to wait for.
    if (!ctx.deployment.context.previous) return 'no old group: nothing to drain';
    const seconds = need(ctx, 'params').strategy.drainSeconds;
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await interruption(ctx);
      await sleep(Math.min(ctx.deps.pollMs, end - Date.now()));
    }
    return `${seconds} s for in-flight requests`;
  },
};

function destroyOldGroups(keepAll: boolean): Action {
  return {
    name: 'destroy-old-groups',
    async run(ctx) {
      const d = ctx.deployment;
      const retained = keepAll ? need(ctx, 'params').strategy.retainedGroups : 0;
      const groups = await ctx.deps.cloud.listServerGroups(clusterName(d.service, d.env));
      const older = groups.filter((g) => g.name !== d.context.group && g.disabled).reverse();
      const doomed = older.slice(retained);
      for (const old of doomed) {
        await ctx.deps.cloud.destroyServerGroup(old.name);
        await ctx.deps.cloud.deleteLaunchTemplate(old.launchTemplate).catch(() => undefined);
      }
      const kept = older.slice(0, retained).map((g) => g.name);
      return `destroyed ${doomed.map((g) => g.name).join(', ') || 'none'}; retained ${kept.join(', ') || 'none'}`;
    },
  };
}

const record: Action = {
  name: 'record',
  async run(ctx) {
    const d = ctx.deployment;
    await ctx.deps.store.recordRelease(d.service, d.env, {
      deployment: d.id,
      image: d.image,
      commit: need(ctx, 'commit'),
      group: need(ctx, 'group'),
      at: new Date().toISOString(),
    });
    return `${d.service} ${d.env}: ${d.image} with config ${need(ctx, 'commit').slice(0, 12)} on ${d.context.group}`;
  },
};

const common = [resolveImage, resolveConfig, findCurrentGroup, nameNextGroup, createLaunchTemplate];

/** The actions of each strategy, top to bottom as the seed's list of steps. */
export const STRATEGIES: Record<Deployment['strategy'], Action[]> = {
  'red-black': [
    ...common,
    createServerGroup(false),
    waitForInstancesRunning,
    waitForHealth,
    enableNewGroup,
    waitForLoadBalancerHealth,
    burnIn,
    disableOldGroup,
    waitForDrain,
    destroyOldGroups(true),
    record,
  ],
  progressive: [
    ...common,
    createServerGroup(true),
    waitForInstancesRunning,
    waitForHealth,
    enableNewGroup,
    waitForLoadBalancerHealth,
    burnIn,
    growInBatches,
    disableOldGroup,
    waitForDrain,
    destroyOldGroups(true),
    record,
  ],
  highlander: [
    ...common,
    createServerGroup(false),
    waitForInstancesRunning,
    waitForHealth,
    enableNewGroup,
    waitForLoadBalancerHealth,
    burnIn,
    disableOldGroup,
    waitForDrain,
    destroyOldGroups(false),
    record,
  ],
};
