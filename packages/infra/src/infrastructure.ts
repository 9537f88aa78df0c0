/**
 * Plan, apply and drift for stacks, over the definitions (Git), the provider (the cloud), the
 * store and the stack locks. The HTTP operations and the apply worker both call this.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, NotAllowedError, NotFoundError, UnprocessableError, type Logger } from '@slipway/core';
import type { Definitions } from './definitions.js';
import type { StackLockInfo, StackLocks } from './lock.js';
import { diffFields, planChanges, sameResource, summarise, type Plan, type PlannedChange } from './plan.js';
import type { InfraProvider } from './provider.js';
import type { InfraComponents as components } from '@slipway/infra-api';
import { applyOrder, type Resource } from './stack.js';
import { FencedError, type Apply, type ApplyStep, type DriftReport, type InfraStore } from './store.js';

export interface ApplyQueue {
  enqueue(applyId: string): Promise<void>;
}

export interface InfrastructureOptions {
  definitions: Definitions;
  /** The provider of the default region (the only one on the local cloud). */
  provider: InfraProvider;
  /** AWS: the provider of a stack's `region`, one per region; absent, `provider` serves every region (a label). */
  providerFor?: (region: string) => InfraProvider;
  store: InfraStore;
  locks: StackLocks;
  queue: ApplyQueue;
  logger: Logger;
  planTtlSeconds: number;
  leaseMs: number;
  /** A pause between apply steps, to pace a rate-limited cloud API (0: none). */
  stepIntervalMs?: number;
}

/** A stack as GET /stacks lists it: the API document's type. */
export type StackSummary = components['schemas']['StackSummary'];

const newId = (kind: string) => `${kind}-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;

export function createInfrastructure(options: InfrastructureOptions) {
  const { definitions, store, locks, logger } = options;
  const providerIn = (region: string | undefined) =>
    region && options.providerFor ? options.providerFor(region) : options.provider;

  /** The region the stack's applied state is in: its definition's at the commit last applied. */
  async function appliedRegion(stack: string, commit: string | undefined): Promise<string | undefined> {
    if (!commit) return undefined;
    return (await definitions.stack(commit, stack).catch(() => undefined))?.region;
  }

  async function readActual(
    resources: Record<string, Resource>,
    region: string | undefined,
  ): Promise<Record<string, Resource | undefined>> {
    const names = Object.keys(resources);
    const provider = providerIn(region);
    const found = await Promise.all(names.map((name) => provider.read(resources[name]!.kind, name)));
    return Object.fromEntries(names.map((name, i) => [name, found[i]]));
  }

  async function listStacks(): Promise<{ commit: string; stacks: StackSummary[] }> {
    await definitions.refresh();
    const { commit } = await definitions.resolve();
    const names = new Set([...(await definitions.stacks(commit)), ...(await store.stacksWithState())]);
    const stacks = await Promise.all(
      [...names].sort().map(async (stack): Promise<StackSummary> => {
        const [state, drift, lock] = await Promise.all([
          store.getState(stack),
          store.getDrift(stack),
          locks.get(stack),
        ]);
        const base = {
          stack,
          commit,
          serial: state.serial,
          ...(state.lastApply ? { lastApply: state.lastApply } : {}),
          ...(drift ? { drift: { checkedAt: drift.checkedAt, drifted: drift.drifted } } : {}),
          ...(lock ? { lock } : {}),
        };
        try {
          const definition = await definitions.stack(commit, stack);
          return { ...base, resources: Object.keys(definition.resources).sort(), valid: true };
        } catch (error) {
          if (error instanceof NotFoundError)
            return { ...base, resources: [], valid: false, errors: [{ path: stack, message: 'is no longer defined' }] };
          if (error instanceof UnprocessableError)
            return { ...base, resources: [], valid: false, errors: error.errors ?? [] };
          throw error;
        }
      }),
    );
    return { commit, stacks };
  }

  /**
   * Infrastructure is applied from the repository's default branch (what was reviewed and merged);
   * another ref — a branch anyone may push — only by an admin.
   */
  async function mustBeStackBranch(ref: string, stackName: string, mayUseAnyRef: boolean): Promise<void> {
    if (mayUseAnyRef) return;
    const branch = (await definitions.resolve(undefined)).ref;
    if (ref !== branch)
      throw new NotAllowedError(
        `stack ${stackName} is planned and applied from ${branch}; another ref (${ref}) needs the admin role`,
      );
  }

  async function createPlan(
    stackName: string,
    request: { ref?: string; allowDelete?: boolean },
    by: string,
    mayUseAnyRef = false,
  ): Promise<Plan> {
    await definitions.refresh();
    const { ref, commit } = await definitions.resolve(request.ref);
    await mustBeStackBranch(ref, stackName, mayUseAnyRef);
    const state = await store.getState(stackName);
    let stack;
    try {
      stack = await definitions.stack(commit, stackName);
    } catch (error) {
      if (!(error instanceof NotFoundError) || Object.keys(state.resources).length === 0) throw error;
      // The file is gone but the stack made resources: planning their deletion is allowed.
      stack = {
        name: stackName,
        resources: {} as Record<string, Resource>,
        region: await appliedRegion(stackName, state.commit),
      };
    }
    const before = Object.keys(state.resources).length ? await appliedRegion(stackName, state.commit) : stack.region;
    if (before !== stack.region)
      throw new UnprocessableError(
        `stack ${stackName} was applied in ${before ?? 'the default region'}: a stack cannot move to ${stack.region ?? 'the default region'} (make a new stack there)`,
      );
    const owners = await store.owners(Object.keys(stack.resources));
    const taken = Object.entries(owners).filter(([, owner]) => owner !== stackName);
    if (taken.length > 0) {
      throw new ConflictError(taken.map(([name, owner]) => `${name} is managed by stack ${owner}`).join('; '));
    }
    const actual = await readActual({ ...state.resources, ...stack.resources }, stack.region);
    const allowDelete = request.allowDelete ?? false;
    const changes = planChanges(stack, actual, state.resources, allowDelete);
    const now = Date.now();
    const plan: Plan = {
      id: newId('plan'),
      stack: stackName,
      ref,
      commit,
      ...(stack.region ? { region: stack.region } : {}),
      serial: state.serial,
      allowDelete,
      changes,
      summary: summarise(changes),
      createdBy: by,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + options.planTtlSeconds * 1000).toISOString(),
      state: 'planned',
    };
    await store.savePlan(plan);
    logger.info({ plan: plan.id, stack: stackName, commit, summary: plan.summary, by }, 'planned');
    return plan;
  }

  /** Checks the plan still holds, takes the stack lock for a new apply, and queues it. */
  async function startApply(planId: string, by: string, mayUseAnyRef = false): Promise<Apply> {
    const plan = await store.getPlan(planId);
    if (!plan) throw new NotFoundError(`no plan ${planId}`);
    await mustBeStackBranch(plan.ref, plan.stack, mayUseAnyRef);
    if (plan.state !== 'planned') {
      throw new ConflictError(
        `plan ${planId} is already ${plan.state}${plan.applyId ? ` (apply ${plan.applyId})` : ''}`,
      );
    }
    if (Date.parse(plan.expiresAt) < Date.now()) {
      throw new ConflictError(`plan ${planId} expired at ${plan.expiresAt}: plan again`);
    }
    const stale = async () => {
      const { serial } = await store.getState(plan.stack);
      return serial === plan.serial ? undefined : serial;
    };
    const staleSerial = await stale();
    if (staleSerial !== undefined) {
      throw new ConflictError(
        `stale plan: stack ${plan.stack} was applied since this plan was made (serial ${plan.serial} → ${staleSerial}); plan again`,
      );
    }
    const applyId = newId('apply');
    const lock = await locks.acquire(plan.stack, applyId, by);
    if ('heldBy' in lock) {
      throw new ConflictError(
        `stack ${plan.stack} is being applied (apply ${lock.heldBy.owner} by ${lock.heldBy.holder} since ${lock.heldBy.since}); try again when it ends`,
      );
    }
    try {
      // Another apply may have finished between the first check and the lock.
      const movedTo = await stale();
      if (movedTo !== undefined)
        throw new ConflictError(`stale plan: stack ${plan.stack} is at serial ${movedTo}; plan again`);
      if (!(await store.transitionPlan(planId, 'planned', 'applying', applyId))) {
        throw new ConflictError(`plan ${planId} is already being applied`);
      }
      const apply: Apply = {
        id: applyId,
        planId,
        stack: plan.stack,
        ref: plan.ref,
        commit: plan.commit,
        ...(plan.region ? { region: plan.region } : {}),
        by,
        state: 'queued',
        createdAt: new Date().toISOString(),
        steps: plan.changes
          .filter((c): c is PlannedChange & { action: ApplyStep['action'] } => c.action !== 'no-op')
          .map((c) => ({ resource: c.resource, kind: c.kind, action: c.action, state: 'pending', attempts: 0 })),
        lockToken: lock.token,
        serialBefore: plan.serial,
      };
      await store.saveApply(apply);
      await options.queue.enqueue(applyId);
      logger.info({ apply: applyId, plan: planId, stack: plan.stack, by }, 'apply queued');
      return apply;
    } catch (error) {
      await locks.unlock(plan.stack, lock.token);
      throw error;
    }
  }

  /**
   * The apply job. Safe to run again after a crash: finished steps are skipped, and each step
   * first reads the resource and does nothing when it is already as the plan wants it.
   */
  async function runApply(applyId: string): Promise<Apply> {
    const apply = await store.getApply(applyId);
    if (!apply) throw new NotFoundError(`no apply ${applyId}`);
    if (apply.state === 'succeeded' || apply.state === 'failed') return apply;
    const plan = (await store.getPlan(apply.planId))!;
    const save = () => store.saveApply(apply);

    if (!(await locks.renew(apply.stack, apply.lockToken))) {
      // The lease ran out (this worker's predecessor died): take the lock again if it is free.
      const again = await locks.acquire(apply.stack, applyId, apply.by);
      if ('heldBy' in again) return fail(apply, `the stack lock was taken by apply ${again.heldBy.owner}`, false);
      apply.lockToken = again.token;
      const { serial } = await store.getState(apply.stack);
      if (serial !== apply.serialBefore) {
        const failed = await fail(apply, `stale plan: the stack moved to serial ${serial}`, true);
        await locks.unlock(apply.stack, apply.lockToken);
        return failed;
      }
    }
    const renewal = setInterval(() => {
      void locks.renew(apply.stack, apply.lockToken).catch(() => {});
    }, options.leaseMs / 3);
    renewal.unref();
    try {
      apply.state = 'running';
      apply.startedAt ??= new Date().toISOString();
      await save();
      for (const step of apply.steps) {
        if (step.state === 'done') continue;
        const change = plan.changes.find((c) => c.resource === step.resource)!;
        step.state = 'running';
        step.attempts++;
        step.startedAt = new Date().toISOString();
        await save();
        try {
          step.detail = await runStep(apply, change);
          step.state = 'done';
          step.finishedAt = new Date().toISOString();
          await save();
        } catch (error) {
          step.state = 'failed';
          step.finishedAt = new Date().toISOString();
          step.detail = (error as Error).message;
          await save();
          return fail(apply, `${step.action} ${step.resource}: ${(error as Error).message}`, true);
        }
        if (options.stepIntervalMs) await new Promise((resolve) => setTimeout(resolve, options.stepIntervalMs));
      }
      apply.state = 'succeeded';
      apply.finishedAt = new Date().toISOString();
      apply.serialAfter = await store.finishApply(apply.stack, apply.lockToken, apply.commit, historyEntry(apply));
      await save();
      await store.transitionPlan(apply.planId, 'applying', 'applied');
      logger.info({ apply: applyId, stack: apply.stack, serial: apply.serialAfter }, 'applied');
      return apply;
    } finally {
      clearInterval(renewal);
      await locks.unlock(apply.stack, apply.lockToken);
    }
  }

  async function runStep(apply: Apply, change: PlannedChange): Promise<string> {
    const provenance = { stack: apply.stack, commit: apply.commit };
    const provider = providerIn(apply.region);
    const fence = async () => {
      if (!(await locks.holds(apply.stack, apply.lockToken)))
        throw new FencedError('the stack lock was lost: fenced out');
    };
    const actual = await provider.read(change.kind, change.resource);
    const record = (resource: Resource | undefined) =>
      store.recordResource(apply.stack, apply.lockToken, change.resource, resource);
    if (change.action === 'delete' || change.action === 'replace') {
      if (
        actual &&
        !sameResource(actual, change.before) &&
        !(change.action === 'replace' && sameResource(actual, change.after))
      ) {
        throw new Error(`changed since the plan (${describeFields(change.before, actual)}): plan again`);
      }
      if (actual && !(change.action === 'replace' && sameResource(actual, change.after))) {
        await fence();
        await provider.delete(change.resource, actual);
      }
      if (change.action === 'delete') {
        await record(undefined);
        return actual ? 'deleted' : 'already gone';
      }
    }
    const wanted = change.after!;
    const now = change.action === 'replace' ? await provider.read(change.kind, change.resource) : actual;
    if (sameResource(now, wanted)) {
      await record(wanted);
      return 'already as planned';
    }
    if (change.action === 'update') {
      if (!sameResource(now, change.before)) {
        throw new Error(
          now
            ? `changed since the plan (${describeFields(change.before, now)}): plan again`
            : 'gone since the plan: plan again',
        );
      }
      await fence();
      await provider.update(change.resource, now!, wanted, provenance);
      await record(wanted);
      return `updated ${change.changes.map((c) => c.field).join(', ')}`;
    }
    if (now) throw new Error(`exists since the plan, with ${describeFields(wanted, now)}: plan again`);
    await fence();
    await provider.create(change.resource, wanted, provenance);
    await record(wanted);
    return 'created';
  }

  async function fail(apply: Apply, reason: string, ownLock: boolean): Promise<Apply> {
    apply.state = 'failed';
    apply.error = reason;
    apply.finishedAt = new Date().toISOString();
    // The serial rises only when something was changed: a plan made meanwhile stays good otherwise.
    if (ownLock && apply.steps.some((step) => step.state === 'done')) {
      try {
        apply.serialAfter = await store.finishApply(apply.stack, apply.lockToken, undefined, historyEntry(apply));
      } catch (error) {
        if (!(error instanceof FencedError)) throw error;
        await store.addHistory(apply.stack, historyEntry(apply));
      }
    } else {
      await store.addHistory(apply.stack, historyEntry(apply));
    }
    await store.saveApply(apply);
    await store.transitionPlan(apply.planId, 'applying', 'failed');
    logger.warn({ apply: apply.id, stack: apply.stack, reason }, 'apply failed');
    return apply;
  }

  async function checkDrift(stack: string): Promise<DriftReport> {
    const state = await store.getState(stack);
    if (state.serial === 0 && Object.keys(state.resources).length === 0) {
      throw new NotFoundError(`stack ${stack} has never been applied`);
    }
    const actual = await readActual(state.resources, await appliedRegion(stack, state.commit));
    const resources = applyOrder(state.resources).order.map((name) => {
      const applied = state.resources[name]!;
      const now = actual[name];
      const changes = now ? diffFields(applied, now).filter((c) => c.field !== 'kind') : [];
      const status: 'in-sync' | 'changed' | 'missing' = !now ? 'missing' : changes.length ? 'changed' : 'in-sync';
      return { resource: name, kind: applied.kind, status, changes };
    });
    const report: DriftReport = {
      stack,
      checkedAt: new Date().toISOString(),
      serial: state.serial,
      ...(state.commit ? { commit: state.commit } : {}),
      drifted: resources.some((r) => r.status !== 'in-sync'),
      resources,
    };
    await store.saveDrift(report);
    if (report.drifted) {
      logger.warn(
        { stack, drifted: resources.filter((r) => r.status !== 'in-sync').map((r) => `${r.resource}: ${r.status}`) },
        'drift found',
      );
    }
    return report;
  }

  async function checkAllDrift(): Promise<DriftReport[]> {
    const reports: DriftReport[] = [];
    for (const stack of await store.stacksWithState()) {
      try {
        reports.push(await checkDrift(stack));
      } catch (error) {
        logger.warn({ stack, err: error }, 'drift check failed');
      }
    }
    return reports;
  }

  async function breakLock(stack: string, by: string): Promise<StackLockInfo> {
    const lock = await locks.break(stack);
    if (!lock) throw new NotFoundError(`stack ${stack} is not locked`);
    await store.addHistory(stack, { type: 'lock-broken', by, at: new Date().toISOString(), lock });
    logger.warn({ stack, by, lock }, 'stack lock broken');
    return lock;
  }

  return { listStacks, createPlan, startApply, runApply, checkDrift, checkAllDrift, breakLock };
}

export type Infrastructure = ReturnType<typeof createInfrastructure>;

function historyEntry(apply: Apply) {
  return {
    type: 'apply' as const,
    applyId: apply.id,
    planId: apply.planId,
    commit: apply.commit,
    by: apply.by,
    at: apply.finishedAt ?? new Date().toISOString(),
    result: apply.state === 'succeeded' ? ('succeeded' as const) : ('failed' as const),
    changed: apply.steps.filter((s) => s.state === 'done').map((s) => ({ resource: s.resource, action: s.action })),
    ...(apply.error ? { error: apply.error } : {}),
  };
}

function describeFields(expected: Resource | undefined, actual: Resource | undefined): string {
  const fields = diffFields(expected ?? {}, actual ?? {}).filter((c) => c.field !== 'kind');
  return fields.map((c) => c.field).join(', ') || 'differs';
}
