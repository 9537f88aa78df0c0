/**
 * Which clusters someone should look at, said once for every view that puts them first (the CLI's
 * `slipway status`, the dashboard's home page): one being deployed, one nothing serves, one whose
 * group in service has no instance or fewer healthy than it has, one whose last deployment did not
 * succeed (rolled back, failed, cancelled: it serves what it served before, not what was asked).
 */
import type { TargetHealth } from '@slipway/cloud';
import type { DeploymentState } from '../deployments/deployment.js';
import { scalingDown } from '../deployments/store.js';
import type { ClusterGroups } from './serving.js';

export interface ClusterAttention {
  deploying?: string;
  /** A group is in service. */
  serving: boolean;
  healthy: number;
  instances: number;
  lastState?: DeploymentState;
}

export function needsAttention(c: ClusterAttention): boolean {
  return (
    Boolean(c.deploying) ||
    !c.serving ||
    c.instances === 0 ||
    c.healthy < c.instances ||
    (c.lastState !== undefined && c.lastState !== 'succeeded')
  );
}

/** Those needing attention first, each part in the order given. */
export function attentionFirst<T extends { needsAttention: boolean }>(items: T[]): T[] {
  return [...items.filter((c) => c.needsAttention), ...items.filter((c) => !c.needsAttention)];
}

/** The group in service's healthy instances, of all it has. */
export function healthSummary(now: ClusterGroups, health: TargetHealth[]): { healthy: number; instances: number } {
  const { active } = now;
  if (!active) return { healthy: 0, instances: 0 };
  const ids = new Set(active.instances.map((i) => i.id));
  return {
    healthy: health.filter((t) => ids.has(t.instanceId) && t.state === 'healthy').length,
    instances: active.instances.length,
  };
}

/** Who deploys the cluster now, from its lock's holder: a scale-down holding it is no deployment. */
export function deployingOf(holder: string | undefined): string | undefined {
  return holder && !scalingDown(holder) ? holder : undefined;
}

/** needsAttention of a cluster as read now: its groups, its health, its lock's holder, its last deployment's state. */
export function attentionOf(
  now: ClusterGroups,
  health: TargetHealth[],
  holder: string | undefined,
  lastState: DeploymentState | undefined,
): boolean {
  const deploying = deployingOf(holder);
  return needsAttention({
    ...(deploying ? { deploying } : {}),
    serving: now.active !== undefined,
    ...healthSummary(now, health),
    ...(lastState ? { lastState } : {}),
  });
}
