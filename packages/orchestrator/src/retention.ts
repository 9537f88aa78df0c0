/**
 * Retained groups cost as much as the serving one while they keep their instances. A cluster whose
 * deployment-params names `strategy.scaleDownAfterSeconds` has each retained group scaled to zero
 * that long after it left service (Spinnaker's scaleDown); an undo or a rollback to it scales it
 * back up (create-server-group) and its record says how long that took.
 *
 * When a group left service is read from the deployment records: the one that replaced it (its
 * `previous`, taken out of service) or the one that made it and turned back. A sweep (any number of
 * orchestrators may run it: resizing to zero twice is the same) never touches a cluster being
 * deployed, and looks again after resizing: a deployment admitted meanwhile that re-enables the
 * group gets its capacity back.
 */
import type { ServerGroup } from '@slipway/cloud';
import { clusterName, type Logger } from '@slipway/core';
import type { Deployment } from './deployment.js';
import { cloudOf, type RegionalDeps } from './regions.js';
import type { DeploymentStore } from './store.js';

export interface RetentionDeps extends RegionalDeps {
  store: DeploymentStore;
  logger: Logger;
}

/** When a disabled group left service, and after how long it is to be scaled down, from the deployment that retired it. */
export function retirement(group: string, deployments: Deployment[]): { at: number; after?: number } | undefined {
  const retiredBy = deployments.find(
    (d) =>
      d.finishedAt &&
      ((d.context.previous === group && d.context.previousDisabled && d.state === 'succeeded') ||
        (d.context.group === group && d.state !== 'succeeded')),
  );
  if (!retiredBy) return undefined;
  const after = retiredBy.context.params?.strategy.scaleDownAfterSeconds;
  return { at: Date.parse(retiredBy.finishedAt!), ...(after !== undefined ? { after } : {}) };
}

/** One pass over every cluster: each retained group past its time scaled to zero. Answers the groups scaled down. */
export async function scaleDownRetained(deps: RetentionDeps, now = Date.now()): Promise<string[]> {
  const scaled: string[] = [];
  for (const { service, env } of await deps.store.clusters()) {
    if (await deps.store.holder(service, env)) continue;
    const recent = (await deps.store.list({ service, env, limit: 30 })).items;
    const cloud = cloudOf(deps, recent[0]?.context.params?.region);
    const groups = await cloud.listServerGroups(clusterName(service, env));
    for (const g of groups.filter((g) => g.disabled && g.desired > 0)) {
      const retired = retirement(g.name, recent);
      if (retired?.after === undefined || now < retired.at + retired.after * 1000) continue;
      await cloud.resizeServerGroup(g.name, { min: 0, desired: 0, max: g.max });
      scaled.push(g.name);
      deps.logger.info({ group: g.name, was: g.desired }, 'retained group scaled to zero');
      await giveBack(deps, cloud, service, env, g);
    }
  }
  return scaled;
}

/** A deployment admitted while the group was being scaled down, re-enabling it: its capacity back. */
async function giveBack(
  deps: RetentionDeps,
  cloud: ReturnType<typeof cloudOf>,
  service: string,
  env: string,
  g: ServerGroup,
): Promise<void> {
  const holder = await deps.store.holder(service, env);
  const d = holder ? await deps.store.get(holder) : undefined;
  if (d?.context.group !== g.name) return;
  await cloud.resizeServerGroup(g.name, { min: g.min, desired: g.desired, max: g.max });
  deps.logger.info({ group: g.name, deployment: d.id }, 'a deployment re-enables it: capacity given back');
}

export function startRetentionSweep(deps: RetentionDeps & { everyMs: number }) {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      await scaleDownRetained(deps);
    } catch (error) {
      deps.logger.warn({ err: error }, 'retention sweep failed; tried again');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), deps.everyMs);
  timer.unref();
  return {
    sweep,
    close() {
      clearInterval(timer);
    },
  };
}
