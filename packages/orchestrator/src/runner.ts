/**
 * Runs deployments: each action one BullMQ job (`<deployment>_<index>`, so a job added twice
 * is one job), the next added only when the last is recorded done. Pause takes effect between
 * actions; cancel and rollback between actions or inside any wait. A worker that dies mid-action
 * leaves a stalled job that another worker runs again; a sweep re-adds the next job of any
 * running deployment that has none, so nothing is left stuck.
 */
import { createQueue, createWorker } from '@slipway/core';
import type { Job } from 'bullmq';
import {
  DeploymentFailure,
  Interrupted,
  restorePrevious,
  RolledBack,
  STRATEGIES,
  type ActionContext,
  type ActionDeps,
} from './actions.js';
import { isFinished, type Deployment, type DeploymentState } from './deployment.js';
import type { Notifier } from './notify.js';

export interface RunnerOptions extends ActionDeps {
  redisUrl: string;
  queuePrefix: string;
  /** How many deployments may run at once across all services (Wealthfront's 2). */
  releaseConcurrency: number;
  notifier: Notifier;
  /** BullMQ job lock: how soon a dead worker's action runs again elsewhere. */
  jobLockMs: number;
  sweepMs: number;
  /** Fault injection for drills: the process kills itself after this action finishes. */
  crashAfter?: string;
}

type JobData = { id: string; index: number };

export function startRunner(options: RunnerOptions) {
  const { store, logger } = options;
  const connection = { url: options.redisUrl, prefix: options.queuePrefix };
  const queue = createQueue<JobData>('actions', connection);
  const now = () => new Date().toISOString();

  async function event(d: Deployment, type: string, data: Record<string, unknown> = {}) {
    await store.event({ type, deployment: d.id, at: now(), state: d.state, ...data });
  }

  async function enqueue(d: Deployment): Promise<void> {
    const action = d.actions[d.current];
    if (!action) return;
    await queue.add(
      action.name,
      { id: d.id, index: d.current },
      {
        jobId: `${d.id}_${d.current}`,
        attempts: 3,
        backoff: { type: 'fixed', delay: 500 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 86_400 },
      },
    );
  }

  function context(d: Deployment): ActionContext {
    return {
      deployment: d,
      deps: options,
      async progress(text, data = {}) {
        d.context.progress = text;
        await store.save(d);
        await event(d, 'progress', { action: d.actions[d.current]?.name, text, ...data });
      },
    };
  }

  async function finish(d: Deployment, state: DeploymentState, reason?: string): Promise<void> {
    d.state = state;
    d.finishedAt = now();
    if (reason) d.reason = reason;
    delete d.context.progress;
    await store.save(d);
    await event(d, 'finished', { reason });
    logger.info({ deployment: d.id, service: d.service, env: d.env, state, reason }, 'deployment finished');
    void options.notifier.notify(
      d,
      state === 'succeeded' ? 'success' : state === 'rolled-back' ? 'rollback' : 'failure',
    );
    for (const id of await store.finish(d, options.releaseConcurrency)) await startAdmitted(id);
  }

  async function startAdmitted(id: string): Promise<void> {
    // The record is written right after admission; give a just-submitted one a moment.
    for (let tries = 0; tries < 20; tries++) {
      const next = await store.get(id);
      if (next) {
        if (next.state === 'queued') await event(next, 'admitted');
        await enqueue(next);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Undoes what the deployment changed: the old group back in service, the new one gone. */
  async function unwind(d: Deployment, state: 'cancelled' | 'rolled-back' | 'failed', reason: string) {
    const ctx = context(d);
    let said = '';
    if (d.context.enabled || d.context.previousDisabled) said = await restorePrevious(ctx);
    const created = d.context.group;
    if (created && !d.context.reuseGroup && (state === 'cancelled' || !d.context.enabled)) {
      // Never served (or cancelled): nothing worth keeping.
      await options.cloud.destroyServerGroup(created);
      await options.cloud.deleteLaunchTemplate(created).catch(() => undefined);
      said = [said, `${created} destroyed`].filter(Boolean).join('; ');
    }
    await finish(d, state, said ? `${reason} (${said})` : reason);
  }

  async function fail(d: Deployment, reason: string) {
    const rollback = d.context.params?.strategy.rollbackOnFailure ?? true;
    if (d.context.enabled && d.context.previous && rollback) await unwind(d, 'rolled-back', reason);
    else await unwind(d, 'failed', reason);
  }

  async function process(job: Job<JobData>): Promise<void> {
    const d = await store.get(job.data.id);
    if (!d || isFinished(d) || d.state === 'paused' || job.data.index !== d.current) return;
    const control = await store.control(d.id);
    if (control.cancel) return unwind(d, 'cancelled', `cancelled by ${control.cancel}`);
    if (control.rollback) return unwind(d, 'rolled-back', `rolled back by ${control.rollback}`);
    if (d.state === 'queued') {
      d.state = 'running';
      d.startedAt = now();
      await event(d, 'started');
      void options.notifier.notify(d, 'start');
    }
    const action = STRATEGIES[d.strategy][d.current]!;
    const record = d.actions[d.current]!;
    Object.assign(record, { state: 'running', attempts: record.attempts + 1, startedAt: now() });
    await store.save(d);
    await event(d, 'action-started', { action: action.name, attempt: record.attempts });
    const started = Date.now();
    try {
      record.output = await action.run(context(d));
      Object.assign(record, { state: 'done', finishedAt: now(), durationMs: Date.now() - started });
      d.current++;
      delete d.context.progress;
      await store.save(d);
      await event(d, 'action-finished', { action: action.name, durationMs: record.durationMs, output: record.output });
    } catch (error) {
      const message = (error as Error).message;
      Object.assign(record, { finishedAt: now(), durationMs: Date.now() - started, output: message });
      if (error instanceof Interrupted) {
        record.state = 'failed';
        return unwind(
          d,
          error.kind === 'cancel' ? 'cancelled' : 'rolled-back',
          `${error.kind === 'cancel' ? 'cancelled' : 'rolled back'} by ${error.by}`,
        );
      }
      if (error instanceof RolledBack) {
        record.state = 'failed';
        return finish(d, 'rolled-back', message);
      }
      if (error instanceof DeploymentFailure || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        record.state = 'failed';
        await event(d, 'action-failed', { action: action.name, output: message });
        return fail(d, `${action.name}: ${message}`);
      }
      record.state = 'pending';
      await store.save(d);
      await event(d, 'action-retry', { action: action.name, output: message });
      throw error;
    }
    if (options.crashAfter === action.name) {
      logger.warn({ deployment: d.id, action: action.name }, 'fault injection: exiting after this action');
      global.process.kill(global.process.pid, 'SIGKILL');
    }
    if (d.current >= d.actions.length) return finish(d, 'succeeded');
    if ((await store.control(d.id)).pause) {
      d.state = 'paused';
      await store.save(d);
      await event(d, 'paused', { next: d.actions[d.current]!.name });
      return;
    }
    await enqueue(d);
  }

  const worker = createWorker<JobData>('actions', (job) => process(job), connection, {
    concurrency: Math.max(4, options.releaseConcurrency * 2),
    lockDuration: options.jobLockMs,
    stalledInterval: Math.max(500, Math.floor(options.jobLockMs / 2)),
    maxStalledCount: 10,
  });
  worker.on('failed', (job, error) => logger.warn({ job: job?.id, err: error }, 'action attempt failed'));

  /** Every running deployment has its next job, or is finished. */
  async function sweep(): Promise<void> {
    for (const id of await store.running()) {
      const d = await store.get(id);
      if (!d) continue;
      if (isFinished(d)) {
        for (const next of await store.finish(d, options.releaseConcurrency)) await startAdmitted(next);
        continue;
      }
      if (d.state === 'paused') continue;
      // Every action done, but the process died before it could say so.
      if (d.current >= d.actions.length) {
        await finish(d, 'succeeded');
        continue;
      }
      const job = await queue.getJob(`${d.id}_${d.current}`);
      if (!job) await enqueue(d);
      else if ((await job.getState()) === 'failed') await fail(d, `${d.actions[d.current]?.name}: ${job.failedReason}`);
    }
  }
  const timer = setInterval(
    () => void sweep().catch((error) => logger.warn({ err: error }, 'sweep failed')),
    options.sweepMs,
  );
  timer.unref();
  void sweep().catch((error) => logger.warn({ err: error }, 'sweep failed'));

  return {
    /** Queues the first action of an admitted deployment. */
    start: enqueue,
    async resume(d: Deployment) {
      await store.clearControl(d.id, 'pause');
      d.state = 'running';
      await store.save(d);
      await event(d, 'resumed');
      await enqueue(d);
    },
    /** Cancels or rolls back a deployment no job is running for (paused or not yet started). */
    async unwindNow(d: Deployment, kind: 'cancel' | 'rollback', by: string) {
      if (d.state === 'queued' && !d.startedAt) return finish(d, 'cancelled', `cancelled by ${by} before it started`);
      return unwind(
        d,
        kind === 'cancel' ? 'cancelled' : 'rolled-back',
        `${kind === 'cancel' ? 'cancelled' : 'rolled back'} by ${by}`,
      );
    },
    finish,
    event,
    sweep,
    async close() {
      clearInterval(timer);
      await worker.close();
      await queue.close();
    },
  };
}

export type Runner = ReturnType<typeof startRunner>;
