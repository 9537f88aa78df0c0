/**
 * What every action is made of: its context (the deployment, the cloud and peers, a way to save
 * before a side effect), the failures it may end with, and the small waits and looks they share.
 */
import { errorName, isTransient, type CloudProvider, type ServerGroup } from '@slipway/cloud';
import type { Logger } from '@slipway/core';
import type { Deployment, DeploymentContext } from '../deployments/deployment.js';
import type { Peers } from '../peers.js';
import type { Control, DeploymentStore } from '../deployments/store.js';

export interface ActionDeps {
  cloud: CloudProvider;
  peers: Peers;
  store: DeploymentStore;
  logger: Logger;
  /** How often waits look again (health, instances, control requests). */
  pollMs: number;
  /** How a wait waits (the interleaving explorer's own: a point where others may run). */
  sleep?: (ms: number) => Promise<void>;
}

export interface ActionContext {
  deployment: Deployment;
  deps: ActionDeps;
  /** Saves the context and tells the followers, e.g. "burn-in 12 s left". */
  progress(text: string, data?: Record<string, unknown>): Promise<void>;
  /** Saves the context now: the write-ahead before a side effect that changes traffic. */
  save(): Promise<void>;
  /**
   * Saves the deployment as past its point of no return (a cancel or rollback is refused from
   * then on with `reason`) unless one waits already: then Interrupted, and nothing is saved.
   */
  irrevocable(reason: string): Promise<void>;
  /** The control requests as of the last save. */
  control(): Promise<Control>;
  /** Fault injection for drills: a named point between two cloud calls where the process may die. */
  checkpoint(name: string): void;
}

export interface Action {
  name: string;
  run(ctx: ActionContext): Promise<string>;
}

/** A failure retrying will not fix: the deployment ends (rolled back when it took traffic). */
export class DeploymentFailure extends Error {}

/** The new group failed its checks while taking traffic: the automatic rollback follows. */
export class HealthFailure extends DeploymentFailure {}

/** A person asked to cancel or roll back while an action was waiting. */
export class Interrupted extends Error {
  constructor(
    readonly kind: 'cancel' | 'rollback',
    readonly by: string,
  ) {
    super(`${kind} asked by ${by}`);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A wait of an action, as its deps wait; a wait's end not saved yet is saved first (waitEnd). */
export async function nap(ctx: ActionContext, ms: number): Promise<void> {
  await saveWaitEnd(ctx);
  await (ctx.deps.sleep ?? sleep)(ms);
}

/**
 * One look at the cloud inside a wait. A transient answer (a throttle that outlasted the SDK's
 * retries, a 5xx, the network) does not end the deployment: it is said, and undefined tells the
 * wait to look again on its next tick, until `until` has passed; then it fails in words.
 */
export async function look<T>(ctx: ActionContext, until: number, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (!isTransient(error)) throw error;
    const why = `${errorName(error)}: ${(error as Error).message}`;
    if (Date.now() > until) throw new DeploymentFailure(`the cloud did not answer in time (${why})`);
    ctx.deps.logger.warn({ deployment: ctx.deployment.id, err: error }, 'the cloud did not answer: looking again');
    await ctx.progress(`the cloud did not answer (${why}): looking again`);
    return undefined;
  }
}

/** Throws Interrupted when a person asked to stop (only forward actions are interrupted). */
export async function interruption(ctx: ActionContext): Promise<void> {
  if (ctx.deployment.unwinding) return;
  const control = await ctx.control();
  if (control.cancel) throw new Interrupted('cancel', control.cancel);
  if (control.rollback) throw new Interrupted('rollback', control.rollback);
}

export function need<K extends keyof DeploymentContext>(ctx: ActionContext, key: K): NonNullable<DeploymentContext[K]> {
  const value = ctx.deployment.context[key];
  if (value === undefined) throw new Error(`${String(key)} is not known yet: an earlier action did not run`);
  return value as NonNullable<DeploymentContext[K]>;
}

export async function group(ctx: ActionContext): Promise<ServerGroup> {
  const found = await ctx.deps.cloud.getServerGroup(need(ctx, 'group'));
  if (!found) throw new DeploymentFailure(`server group ${ctx.deployment.context.group} is gone`);
  return found;
}

/** Deployments whose wait's end is not saved yet, with the record's version when it was set. */
const unsavedEnds = new WeakMap<Deployment, number | undefined>();

/**
 * The end of a wait (epoch ms), set the first time it is asked and saved before the wait first
 * waits (nap, or any save meanwhile), so that a wait run again after a crash continues where it
 * was rather than starting over. A wait whose first look finds it done is not saved for it: its
 * end reaches the record with the action's own end, and a crash before then had waited for nothing.
 */
export async function waitEnd(ctx: ActionContext, name: string, ms: number): Promise<number> {
  const waits = (ctx.deployment.context.waits ??= {});
  if (waits[name] === undefined) {
    waits[name] = Date.now() + ms;
    unsavedEnds.set(ctx.deployment, ctx.deployment.version);
  }
  return waits[name];
}

/** Saves a wait's end set since the record was last saved (every save raises its version). */
export async function saveWaitEnd(ctx: ActionContext): Promise<void> {
  const d = ctx.deployment;
  if (!unsavedEnds.has(d)) return;
  const setAt = unsavedEnds.get(d);
  unsavedEnds.delete(d);
  if (d.version === setAt) await ctx.save();
}

/**
 * The target group the new group serves from: its own while its traffic is split from the old
 * group's (AWS's burn-in, traffic-split.ts) until it joined the cluster's; else the cluster's.
 */
export function servingTargetGroup(ctx: ActionContext): string {
  const split = ctx.deployment.context.split;
  return split?.targetGroup && !split.joined && !split.ended ? split.targetGroup : need(ctx, 'targetGroup');
}

/** How many of a group's running instances the load balancer finds healthy. */
export async function targetsHealthy(
  ctx: ActionContext,
  groupName: string,
): Promise<{ healthy: number; of: number; found: ServerGroup | undefined }> {
  const targetGroup = groupName === ctx.deployment.context.group ? servingTargetGroup(ctx) : need(ctx, 'targetGroup');
  // Two reads of the cloud that need not wait for each other: one round trip's time, not two.
  const [found, health] = await Promise.all([
    ctx.deps.cloud.getServerGroup(groupName),
    ctx.deps.cloud.describeTargetHealth(targetGroup),
  ]);
  const ids = (found?.instances ?? []).filter((i) => i.lifecycle === 'running').map((i) => i.id);
  return {
    healthy: ids.filter((id) => health.find((t) => t.instanceId === id)?.state === 'healthy').length,
    of: ids.length,
    found,
  };
}
