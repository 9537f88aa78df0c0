/**
 * Runs deployments. A run is one BullMQ job (`<deployment>-<run>`, the run saved on the record)
 * that runs the recorded actions one after another by their saved names, saving each as it
 * starts and ends with a fenced transition (store.ts): a writer that read an older record — a
 * stalled worker woken up, a second replica, the API — is refused and stops. Rollback, cancel and
 * failure append their own actions (rollback.ts) and run them the same way. Pause takes effect
 * between actions; cancel and rollback between actions or inside any wait.
 *
 * A worker that dies mid-action leaves a stalled job that a worker (of any replica) runs again;
 * the sweep renews the leases of live deployments, restarts one whose run ended without
 * finishing it, and reclaims the locks and slots of finished or missing ones.
 */
import type { CloudRegions } from '@slipway/cloud';
import { createQueue, createWorker } from '@slipway/core';
import type { Job } from 'bullmq';
import {
  ACTIONS,
  DeploymentFailure,
  Interrupted,
  rollbackPlan,
  sleep,
  type ActionContext,
  type ActionDeps,
} from './actions.js';
import { isFinished, type Deployment, type DeploymentState } from './deployment.js';
import type { Notifier } from './notify.js';
import { cloudOf } from './regions.js';
import { StaleWrite, type Control } from './store.js';

export interface RunnerOptions extends ActionDeps {
  /** One provider per region (AWS): each deployment acts in its cluster's; absent, `cloud` serves all. */
  regions?: CloudRegions;
  redisUrl: string;
  queuePrefix: string;
  /** How many deployments may run at once across all services (Wealthfront's 2). */
  releaseConcurrency: number;
  notifier: Notifier;
  /** BullMQ job lock: how soon a dead worker's run goes on elsewhere. */
  jobLockMs: number;
  sweepMs: number;
  /** How often a running deployment renews its lock and slot (well inside the store's lease). */
  renewMs?: number;
  /** Fault injection for drills: the process kills itself after this action finishes… */
  crashAfter?: string;
  /** …or at this `<action>:<checkpoint>` inside an action. */
  crashAt?: string;
  /** False for a process that only submits (queues runs) and runs none itself. */
  runsActions?: boolean;
}

type JobData = { id: string; run: number };

class LockLost extends Error {
  constructor(owner: string | undefined) {
    super(`its service+env lock is ${owner ? `held by ${owner}` : 'gone (broken)'}: stopped where it stood`);
  }
}
type Ending = 'rolled-back' | 'cancelled' | 'failed';

/** How often a failing action is tried before the deployment turns back. */
const ATTEMPTS = 3;

export function startRunner(options: RunnerOptions) {
  const { store, logger } = options;
  const connection = { url: options.redisUrl, prefix: options.queuePrefix };
  const queue = createQueue<JobData>('actions', connection);
  const now = () => new Date().toISOString();
  const die = (where: string, id: string) => {
    logger.warn({ deployment: id, where }, 'fault injection: exiting here');
    global.process.kill(global.process.pid, 'SIGKILL');
  };

  async function event(d: Deployment, type: string, data: Record<string, unknown> = {}) {
    await store.event({ type, deployment: d.id, at: now(), state: d.state, ...data });
  }

  const jobId = (d: Deployment) => `${d.id}-${d.run ?? 1}`;

  async function enqueue(d: Deployment): Promise<void> {
    await queue.add(
      'run',
      { id: d.id, run: d.run ?? 1 },
      { jobId: jobId(d), removeOnComplete: { age: 3600 }, removeOnFail: { age: 86_400 } },
    );
  }

  /**
   * Saves the record with its event; answers the control requests as saved with it. A live
   * deployment whose service+env lock is no longer its own (broken by an admin, or its lease ran
   * out and another took it) is fenced out: LockLost.
   */
  async function commit(d: Deployment, type?: string, data: Record<string, unknown> = {}): Promise<Control> {
    const saved = await store.transition(d, type ? { event: { type, ...data } } : {});
    if (!isFinished(d) && saved.lockOwner !== d.id) throw new LockLost(saved.lockOwner);
    return saved.control;
  }

  async function finish(d: Deployment, state: DeploymentState, reason?: string): Promise<void> {
    d.state = state;
    d.finishedAt = now();
    if (reason) d.reason = reason;
    // What never ran never will: the timeline says so rather than leaving it pending.
    for (const left of d.actions) if (left.state === 'pending' || left.state === 'running') left.state = 'skipped';
    delete d.context.progress;
    const { admitted } = await store.transition(d, {
      event: { type: 'finished', reason },
      release: options.releaseConcurrency,
    });
    logger.info({ deployment: d.id, service: d.service, env: d.env, state, reason }, 'deployment finished');
    void options.notifier.notify(
      d,
      state === 'succeeded' ? 'success' : state === 'rolled-back' ? 'rollback' : 'failure',
    );
    await startAdmitted(admitted);
  }

  async function startAdmitted(ids: string[]): Promise<void> {
    for (const id of ids) {
      const next = await store.get(id);
      if (!next || isFinished(next)) continue;
      await event(next, 'admitted');
      await enqueue(next);
    }
  }

  /**
   * Turns the deployment back: the action at hand and every forward action left are marked, the
   * rollback's actions appended, and all saved before any of them touches the cloud.
   */
  async function turnBack(d: Deployment, state: Ending, reason: string, at: 'failed' | 'skipped'): Promise<Control> {
    const record = d.actions[d.current];
    if (record && record.state !== 'done') {
      record.state = at;
      if (record.startedAt) record.finishedAt ??= now();
    }
    for (const later of d.actions.slice(d.current + 1)) if (later.state === 'pending') later.state = 'skipped';
    const plan = rollbackPlan(d, state);
    d.unwinding = { state, reason };
    d.current = d.actions.length;
    d.actions.push(...plan.map((a) => ({ name: a.name, state: 'pending' as const, attempts: 0 })));
    delete d.context.progress;
    return commit(d, 'turning-back', { to: state, reason, actions: plan.map((a) => a.name) });
  }

  function failureEnding(d: Deployment): Ending {
    const rollback = d.context.params?.strategy.rollbackOnFailure ?? true;
    return d.context.enabled && d.context.previous && rollback ? 'rolled-back' : 'failed';
  }

  function context(d: Deployment, name: string): ActionContext {
    return {
      deployment: d,
      // The provider of the deployment's region, as validated when it was made.
      deps: { ...options, cloud: cloudOf(options, d.context.params?.region) },
      async progress(text, data = {}) {
        d.context.progress = text;
        await commit(d, 'progress', { action: name, text, ...data });
      },
      async save() {
        await commit(d);
      },
      control: () => store.control(d.id),
      checkpoint(point) {
        if (options.crashAt === `${name}:${point}`) die(options.crashAt, d.id);
      },
    };
  }

  /** Runs the deployment's actions from where its record says, until it finishes or pauses. */
  async function drive(d: Deployment): Promise<void> {
    let control = await store.control(d.id);
    for (;;) {
      if (!d.unwinding && (control.cancel || control.rollback)) {
        const kind = control.cancel ? 'cancel' : 'rollback';
        const by = (control.cancel ?? control.rollback)!;
        const verb = kind === 'cancel' ? 'cancelled' : 'rolled back';
        if (!d.startedAt) return finish(d, 'cancelled', `cancelled by ${by} before it started`);
        control = await turnBack(d, kind === 'cancel' ? 'cancelled' : 'rolled-back', `${verb} by ${by}`, 'skipped');
        continue;
      }
      if (d.current >= d.actions.length) {
        return d.unwinding ? finish(d, d.unwinding.state, describeEnding(d)) : finish(d, 'succeeded');
      }
      if (control.pause && d.startedAt && !d.unwinding) {
        d.state = 'paused';
        await commit(d, 'paused', { next: d.actions[d.current]!.name });
        return;
      }
      const record = d.actions[d.current]!;
      const action = ACTIONS.get(record.name);
      const starting = d.state === 'queued';
      if (starting) {
        d.state = 'running';
        d.startedAt = now();
      }
      Object.assign(record, { state: 'running', attempts: record.attempts + 1, startedAt: now() });
      control = await commit(d, 'action-started', { action: record.name, attempt: record.attempts });
      if (starting) void options.notifier.notify(d, 'start');
      const started = Date.now();
      let output: string;
      try {
        if (!action) throw new DeploymentFailure(`no action ${record.name} in this version of the orchestrator`);
        output = await action.run(context(d, record.name));
      } catch (error) {
        if (error instanceof StaleWrite || error instanceof LockLost) throw error;
        const message = (error as Error).message;
        Object.assign(record, { finishedAt: now(), durationMs: Date.now() - started, output: message });
        if (error instanceof Interrupted) {
          control = await store.control(d.id);
          continue; // the top of the loop turns it back
        }
        const retry = !(error instanceof DeploymentFailure) && record.attempts < ATTEMPTS;
        if (retry) {
          record.state = 'pending';
          control = await commit(d, 'action-retry', { action: record.name, output: message });
          await sleep(500);
          continue;
        }
        if (d.unwinding) {
          // The rollback itself cannot go on: stop where it is, saying what is left as it is.
          record.state = 'failed';
          for (const later of d.actions.slice(d.current + 1)) later.state = 'skipped';
          d.current = d.actions.length;
          d.unwinding = { state: 'failed', reason: `${d.unwinding.reason}; then ${record.name} failed: ${message}` };
          control = await commit(d, 'action-failed', { action: record.name, output: message });
          continue;
        }
        await event(d, 'action-failed', { action: record.name, output: message });
        // A health failure in service, or any other: the previous group back if the new one took traffic.
        control = await turnBack(d, failureEnding(d), `${record.name}: ${message}`, 'failed');
        continue;
      }
      Object.assign(record, { state: 'done', output, finishedAt: now(), durationMs: Date.now() - started });
      d.current++;
      delete d.context.progress;
      control = await commit(d, 'action-finished', { action: record.name, durationMs: record.durationMs, output });
      if (options.crashAfter === record.name) die(`after ${record.name}`, d.id);
    }
  }

  function describeEnding(d: Deployment): string {
    const said = d.actions
      .filter((a) => a.state === 'done' && rollbackNames.has(a.name) && a.output)
      .map((a) => a.output)
      .filter((o) => !/^no |nothing|still in service/.test(o!));
    return said.length ? `${d.unwinding!.reason} (${said.join('; ')})` : d.unwinding!.reason;
  }

  const rollbackNames = new Set(['restore-previous-group', 'take-new-group-out', 'destroy-new-group']);

  async function process(job: Job<JobData>): Promise<void> {
    const d = await store.get(job.data.id);
    if (!d || isFinished(d) || d.state === 'paused' || (d.run ?? 1) !== job.data.run) return;
    // The lease of the lock and slot, renewed while this run holds the deployment.
    const renewal = setInterval(
      () => void store.renew(d).catch((error) => logger.warn({ err: error }, 'lease renewal failed')),
      options.renewMs ?? 5000,
    );
    try {
      await drive(d);
    } catch (error) {
      // Another writer moved it on (a replica, the API, a sweep): its record says what happens next.
      if (error instanceof StaleWrite) {
        logger.info({ deployment: d.id }, 'stale: another writer changed the deployment; this run stops');
        return;
      }
      if (error instanceof LockLost) return fencedOut(d.id, error);
      throw error;
    } finally {
      clearInterval(renewal);
    }
  }

  const runs = options.runsActions ?? true;
  const worker = runs
    ? createWorker<JobData>('actions', (job) => process(job), connection, {
        concurrency: Math.max(4, options.releaseConcurrency * 2),
        lockDuration: options.jobLockMs,
        stalledInterval: Math.max(500, Math.floor(options.jobLockMs / 2)),
        maxStalledCount: 1000,
      })
    : undefined;
  worker?.on('failed', (job, error) => logger.warn({ job: job?.id, err: error }, 'run failed'));

  /** Ends a deployment that lost its lock, touching nothing more in the cloud. */
  async function fencedOut(id: string, error: LockLost): Promise<void> {
    const d = await store.get(id);
    if (!d || isFinished(d)) return;
    logger.warn({ deployment: id }, error.message);
    await finish(d, 'failed', error.message);
  }

  /** Starts a new run of a deployment no job is running for. */
  async function restart(d: Deployment, why: string): Promise<void> {
    d.run = (d.run ?? 1) + 1;
    if (d.state === 'paused') d.state = 'running';
    try {
      await commit(d, 'run-started', { run: d.run, why });
    } catch (error) {
      if (error instanceof LockLost) return fencedOut(d.id, error);
      throw error;
    }
    await enqueue(d);
  }

  /**
   * Every live deployment keeps its lock and slot and has a run going; a finished or missing one
   * holds neither.
   */
  async function sweep(): Promise<void> {
    const slotted = new Set(await store.running());
    // Where each holder's lock is, for one whose record is missing.
    const clusterOf = new Map<string, string>();
    for (const lock of await store.locks()) clusterOf.set(lock.owner, lock.name);
    for (const id of new Set([...slotted, ...(await store.admissionQueue()), ...clusterOf.keys()])) {
      try {
        await sweepOne(id, slotted.has(id), clusterOf.get(id));
      } catch (error) {
        if (!(error instanceof StaleWrite)) throw error;
      }
    }
  }

  async function sweepOne(id: string, slotted: boolean, cluster: string | undefined): Promise<void> {
    const d = await store.get(id);
    if (!d || isFinished(d)) {
      const [service = '', env = ''] = d ? [d.service, d.env] : (cluster ?? ':').split(':');
      logger.warn({ deployment: id, state: d?.state ?? 'missing' }, 'reclaiming a lock and slot');
      await startAdmitted(await store.release({ id, service, env }, options.releaseConcurrency));
      return;
    }
    await store.renew(d);
    if (!slotted || d.state === 'paused') return;
    const job = await queue.getJob(jobId(d));
    const state = job ? await job.getState() : 'missing';
    if (state === 'missing' && d.state === 'queued' && (d.run ?? 1) === 1) await enqueue(d);
    else if (state === 'completed' || state === 'failed' || state === 'missing' || state === 'unknown') {
      await restart(d, `run ${d.run ?? 1} ended (${state}) before the deployment did`);
    }
  }

  const timer = setInterval(
    () => void sweep().catch((error) => logger.warn({ err: error }, 'sweep failed')),
    options.sweepMs,
  );
  timer.unref();
  if (runs) void sweep().catch((error) => logger.warn({ err: error }, 'sweep failed'));
  else clearInterval(timer);

  return {
    /** Queues the first run of an admitted deployment. */
    start: enqueue,
    /** Answers false when it was not paused (any more). */
    async resume(id: string): Promise<boolean> {
      await store.clearControl(id, 'pause');
      for (let tries = 0; tries < 20; tries++) {
        const d = await store.get(id);
        if (!d || d.state !== 'paused') return false;
        try {
          await restart(d, 'resumed');
          await event(d, 'resumed');
          return true;
        } catch (error) {
          if (!(error instanceof StaleWrite)) throw error;
        }
      }
      return false;
    },
    /** Cancels or rolls back a deployment no job is running (paused, or not admitted yet). */
    async unwindNow(id: string, kind: 'cancel' | 'rollback', by: string) {
      // Racing the worker or the admission: a refused write reads again and decides again.
      for (let tries = 0; tries < 20; tries++) {
        const d = await store.get(id);
        if (!d || isFinished(d)) return;
        try {
          if (d.state === 'queued' && !d.startedAt && !(await store.running()).includes(d.id)) {
            const verb = kind === 'cancel' ? 'cancelled' : 'rolled back';
            return await finish(d, 'cancelled', `${verb} by ${by} before it started`);
          }
          // A run of its own sees the request and turns it back; a running one sees it already.
          if (d.state === 'paused') await restart(d, `${kind} asked by ${by}`);
          return;
        } catch (error) {
          if (!(error instanceof StaleWrite)) throw error;
        }
      }
    },
    finish,
    event,
    sweep,
    async close() {
      clearInterval(timer);
      await worker?.close();
      await queue.close();
    },
  };
}

export type Runner = ReturnType<typeof startRunner>;
