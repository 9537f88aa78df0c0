/**
 * Runs deployments. A run is one BullMQ job (`<deployment>-<run>`, the run saved on the record)
 * that runs the recorded actions one after another by their saved names, saving each as it
 * starts and ends with a fenced transition (store.ts): a writer that read an older record — a
 * stalled worker woken up, a second replica, the API — is refused and stops; a deployment that
 * lost its cluster's lock (broken, or its lease ran out and another took it) ends where it stood.
 * Rollback, cancel and failure append their own actions (rollback.ts) and run them the same way.
 * Pause takes effect between actions; cancel and rollback between actions or inside any wait.
 *
 * The semantics a person meets (README, "Pause, cancel, roll back"):
 * - a paused deployment keeps its cluster's lock and gives its slot back; resumed (or
 *   cancelled, or rolled back) it takes a free slot or queues for one;
 * - a request is saved against the record as it is (set-control.lua), so a pause and a cancel
 *   never cross unseen: the pause is saved only while no cancel or rollback waits;
 * - once the new group serves with nothing to go back to (a first deployment, or the old group
 *   about to be destroyed with retained groups 0 or highlander), the deployment is irrevocable:
 *   a cancel or rollback is refused in words, and nothing takes the only serving group out;
 * - only groups that finished vetting (a succeeded deployment's) are rollback targets.
 *
 * Outcomes go through an outbox: the finish writes the notification and the count in the same
 * script; each replica's sender delivers what is in it at least once (the receivers dedupe by
 * deployment and outcome). A worker that dies mid-action leaves a stalled job that a worker (of
 * any replica) runs again; the sweep renews the leases of live deployments, restarts one whose
 * run ended without finishing it, and reclaims the locks and slots of finished or missing ones.
 */
import { randomBytes } from 'node:crypto';
import type { CloudRegions } from '@slipway/cloud';
import { createQueue, createWorker, type QueueConnectionOptions } from '@slipway/core/redis';
import type { Job } from 'bullmq';
import {
  ACTIONS,
  DeploymentFailure,
  Interrupted,
  rollbackPlan,
  sleep,
  type ActionContext,
  type ActionDeps,
} from '../actions/actions.js';
import { isFinished, type Deployment, type DeploymentState } from './deployment.js';
import type { Notifier } from '../notify.js';
import { cloudOf } from '../actions/regions.js';
import { Fenced, scalingDown, StaleWrite, type Control, type ControlAnswer, type TransitionOptions } from './store.js';

export interface EngineOptions extends ActionDeps {
  /** One provider per region (AWS): each deployment acts in its cluster's; absent, `cloud` serves all. */
  regions?: CloudRegions;
  /** How many deployments may run at once across all services (Wealthfront's 2). */
  slots: number;
  notifier: Notifier;
  /** Fault injection for drills: the process kills itself after this action finishes… */
  crashAfter?: string;
  /** …or at this `<action>:<checkpoint>` inside an action. */
  crashAt?: string;
  /** How long an outbox entry another sender took stays its own before this one sends it (a dead sender's). */
  outboxIdleMs?: number;
}

/** Where runs go: BullMQ in the runner; the explorer's own queue in its tests. */
export interface RunQueue {
  enqueue(job: JobData): Promise<void>;
  /** The state of a run's job: active and waiting ones are going; the rest ended or never were. */
  state(job: JobData): Promise<string>;
}

export type JobData = { id: string; run: number };

type Ending = 'rolled-back' | 'cancelled' | 'failed';

/** How often a failing action is tried before the deployment turns back. */
const ATTEMPTS = 3;

export const jobIdOf = (job: JobData) => `${job.id}-${job.run}`;

/** The deployment engine without its timers and queue: what the runner and the interleaving explorer drive. */
export function createDeploymentEngine(options: EngineOptions & { queue: RunQueue; consumer?: string }) {
  const { store, logger, queue } = options;
  const limit = options.slots;
  const wait = options.sleep ?? sleep;
  const now = () => new Date().toISOString();
  const die = (where: string, id: string) => {
    logger.warn({ deployment: id, where }, 'fault injection: exiting here');
    global.process.kill(global.process.pid, 'SIGKILL');
  };
  const consumer = options.consumer ?? `sender-${randomBytes(4).toString('hex')}`;

  /** An event of a deployment that has not finished; answers false when it had (a stale writer). */
  async function event(d: Deployment, type: string, data: Record<string, unknown> = {}, version?: number) {
    return store.event({ type, deployment: d.id, at: now(), state: d.state, ...data }, version);
  }

  const enqueue = (d: Deployment) => queue.enqueue({ id: d.id, run: d.run ?? 1 });

  /** Saves the record with its event; answers the control requests as saved with it. */
  async function commit(
    d: Deployment,
    type?: string,
    data: Record<string, unknown> = {},
    more: TransitionOptions = {},
  ): Promise<{ saved: boolean; control: Control; admitted: string[] }> {
    const saved = await store.transition(d, { ...(type ? { event: { type, ...data } } : {}), limit, ...more });
    return saved;
  }

  async function finish(
    d: Deployment,
    state: DeploymentState,
    reason?: string,
    applied = d.unwinding?.request,
  ): Promise<void> {
    d.state = state;
    d.finishedAt = now();
    if (reason) d.reason = reason;
    // What never ran never will: the timeline says so rather than leaving it pending.
    for (const left of d.actions) if (left.state === 'pending' || left.state === 'running') left.state = 'skipped';
    delete d.context.progress;
    delete d.context.secondsLeft;
    // The outcome's notification and count are saved with it (the outbox): none is lost to a crash after.
    const { admitted } = await store.transition(d, {
      event: { type: 'finished', reason },
      mode: 'finish',
      limit,
      ...(applied ? { applied } : {}),
    });
    logger.info({ deployment: d.id, service: d.service, env: d.env, state, reason }, 'deployment finished');
    void sendOutbox();
    await startAdmitted(admitted);
  }

  async function startAdmitted(ids: string[]): Promise<void> {
    for (const id of ids) {
      // Read and said together (one round trip): the event takes the record's state, and is
      // refused, as the read says, when it had finished.
      const [next] = await Promise.all([store.get(id), store.event({ type: 'admitted', deployment: id, at: now() })]);
      if (!next || isFinished(next)) continue;
      await enqueue(next);
    }
  }

  /**
   * Turns the deployment back: the action at hand and every forward action left are marked, the
   * rollback's actions appended, and all saved before any of them touches the cloud — with the
   * start of the first of them in the same fenced step (nothing is checked between the two: a
   * deployment turning back acts on no request). Answers the control requests and whether that
   * first action was saved as started.
   */
  async function turnBack(
    d: Deployment,
    state: Ending,
    reason: string,
    at: 'failed' | 'skipped',
    before: TransitionOptions['events'] = [],
    request?: 'cancel' | 'rollback',
  ): Promise<{ control: Control; begun: boolean }> {
    const record = d.actions[d.current];
    if (record && record.state !== 'done') {
      record.state = at;
      if (record.startedAt) record.finishedAt ??= now();
    }
    for (const later of d.actions.slice(d.current + 1)) if (later.state === 'pending') later.state = 'skipped';
    const plan = rollbackPlan(d, state);
    d.unwinding = { state, reason, ...(request ? { request } : {}) };
    d.current = d.actions.length;
    d.actions.push(...plan.map((a) => ({ name: a.name, state: 'pending' as const, attempts: 0 })));
    delete d.context.progress;
    delete d.context.secondsLeft;
    const turning = { type: 'turning-back', to: state, reason, actions: plan.map((a) => a.name) };
    const first = d.actions[d.current];
    if (!first) return { control: (await commit(d, turning.type, turning, { events: before })).control, begun: false };
    d.state = 'running';
    Object.assign(first, { state: 'running', attempts: 1, startedAt: now() });
    const { control } = await commit(
      d,
      'action-started',
      { action: first.name, attempt: first.attempts },
      { events: [...before, turning] },
    );
    return { control, begun: true };
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
        if (typeof data.secondsLeft === 'number') d.context.secondsLeft = data.secondsLeft;
        else delete d.context.secondsLeft;
        await commit(d, 'progress', { action: name, text, ...data });
      },
      async save() {
        await commit(d);
      },
      async irrevocable(reason) {
        d.irrevocable = reason;
        const { saved } = await commit(d, 'irrevocable', { action: name, reason }, { mode: 'step-unless-control' });
        if (!saved) {
          delete d.irrevocable;
          const control = await store.control(d.id);
          throw new Interrupted(control.cancel ? 'cancel' : 'rollback', (control.cancel ?? control.rollback)!);
        }
      },
      control: () => store.control(d.id),
      checkpoint(point) {
        if (options.crashAt === `${name}:${point}`) die(options.crashAt, d.id);
      },
    };
  }

  /** Runs the deployment's actions from where its record says, until it finishes or pauses. */
  async function drive(d: Deployment, read: Control): Promise<void> {
    let control = read;
    // The action at hand was saved as started with the end of the one before (advance): it runs at once.
    let begun = false;
    for (;;) {
      if (begun) {
        // No request waited when it was saved, and its start was saved: nothing to check before it runs.
      } else if (!d.unwinding && (control.cancel || control.rollback)) {
        const kind = control.cancel ? 'cancel' : 'rollback';
        const by = (control.cancel ?? control.rollback)!;
        const verb = kind === 'cancel' ? 'cancelled' : 'rolled back';
        if (!d.startedAt) return finish(d, 'cancelled', `cancelled by ${by} before it started`, kind);
        ({ control, begun } = await turnBack(
          d,
          kind === 'cancel' ? 'cancelled' : 'rolled-back',
          `${verb} by ${by}`,
          'skipped',
          [],
          kind,
        ));
        continue;
      }
      if (d.current >= d.actions.length) {
        return d.unwinding ? finish(d, d.unwinding.state, describeEnding(d)) : finish(d, 'succeeded');
      }
      if (!begun && control.pause && d.startedAt && !d.unwinding) {
        d.state = 'paused';
        // The action at hand may have begun (it failed and is tried again, or the run carrying it
        // died): resumed, it runs from its start, and so do its waits' clocks, not counting the
        // time paused (a burn-in whose end passed while paused would watch a few looks only).
        const waits = d.context.waits;
        delete d.context.waits;
        // Saved only while no cancel or rollback waits; its slot goes to whoever waits for one.
        const paused = await commit(d, 'paused', { next: d.actions[d.current]!.name }, { mode: 'pause' });
        if (!paused.saved) {
          d.state = 'running';
          if (waits) d.context.waits = waits;
          control = paused.control;
          continue;
        }
        return startAdmitted(paused.admitted);
      }
      const record = d.actions[d.current]!;
      const action = ACTIONS.get(record.name);
      if (!begun) {
        const starting = !d.startedAt;
        d.state = 'running';
        if (starting) d.startedAt = now();
        Object.assign(record, { state: 'running', attempts: record.attempts + 1, startedAt: now() });
        control = (
          await commit(
            d,
            'action-started',
            { action: record.name, attempt: record.attempts },
            starting ? { notify: 'start' } : {},
          )
        ).control;
        if (starting) void sendOutbox();
      }
      begun = false;
      const started = Date.now();
      let output: string;
      try {
        if (!action) throw new DeploymentFailure(`no action ${record.name} in this version of the orchestrator`);
        output = await action.run(context(d, record.name));
      } catch (error) {
        if (error instanceof StaleWrite || error instanceof Fenced) throw error;
        const message = (error as Error).message;
        Object.assign(record, { finishedAt: now(), durationMs: Date.now() - started, output: message });
        if (error instanceof Interrupted) {
          control = await store.control(d.id);
          continue; // the top of the loop turns it back
        }
        const retry = !(error instanceof DeploymentFailure) && record.attempts < ATTEMPTS;
        if (retry) {
          record.state = 'pending';
          control = (await commit(d, 'action-retry', { action: record.name, output: message })).control;
          await wait(500);
          continue;
        }
        if (d.unwinding) {
          // The rollback itself cannot go on: stop where it is, saying what is left as it is.
          record.state = 'failed';
          for (const later of d.actions.slice(d.current + 1)) later.state = 'skipped';
          d.current = d.actions.length;
          d.unwinding = {
            ...d.unwinding,
            state: 'failed',
            reason: `${d.unwinding.reason}; then ${record.name} failed: ${message}`,
          };
          control = (await commit(d, 'action-failed', { action: record.name, output: message })).control;
          continue;
        }
        // A health failure in service, or any other: the previous group back if the new one took traffic.
        ({ control, begun } = await turnBack(d, failureEnding(d), `${record.name}: ${message}`, 'failed', [
          { type: 'action-failed', action: record.name, output: message },
        ]));
        continue;
      }
      Object.assign(record, { state: 'done', output, finishedAt: now(), durationMs: Date.now() - started });
      d.current++;
      delete d.context.progress;
      delete d.context.secondsLeft;
      const finished = { type: 'action-finished', action: record.name, durationMs: record.durationMs, output };
      begun = await advance(d, finished);
      if (!begun) control = (await commit(d, finished.type, finished)).control;
      if (options.crashAfter === record.name) die(`after ${record.name}`, d.id);
    }
  }

  /**
   * The hand-off from one action to the next inside the same run: the end of one and the start of
   * the next saved in one fenced step, refused while any request (pause, cancel, rollback) waits,
   * when the caller saves the end alone and the loop's top acts on the request. Answers whether
   * the next one was saved as started.
   */
  async function advance(d: Deployment, finished: { type: string; action: string }): Promise<boolean> {
    const next = d.actions[d.current];
    if (!next || next.state !== 'pending' || !d.startedAt) return false;
    const { attempts, startedAt } = next;
    Object.assign(next, { state: 'running', attempts: attempts + 1, startedAt: now() });
    const { saved } = await commit(
      d,
      'action-started',
      { action: next.name, attempt: next.attempts },
      { mode: 'advance', events: [finished] },
    );
    if (!saved) {
      Object.assign(next, { state: 'pending', attempts });
      if (startedAt === undefined) delete next.startedAt;
      else next.startedAt = startedAt;
    }
    return saved;
  }

  function describeEnding(d: Deployment): string {
    const said = d.actions
      .filter((a) => a.state === 'done' && rollbackNames.has(a.name) && a.output)
      .map((a) => a.output)
      .filter((o) => !/^no |nothing|still in service/.test(o!));
    return said.length ? `${d.unwinding!.reason} (${said.join('; ')})` : d.unwinding!.reason;
  }

  const rollbackNames = new Set(['restore-previous-group', 'take-new-group-out', 'destroy-new-group']);

  /** One run of a deployment (a job): from where its record stands until it finishes or pauses. */
  async function process(job: JobData, renewMs?: number): Promise<void> {
    // The record and its control requests read together: one round trip to Redis, not two.
    const [d, control] = await Promise.all([store.get(job.id), store.control(job.id)]);
    if (!d || isFinished(d) || d.state === 'paused' || (d.run ?? 1) !== job.run) return;
    // The lease of the lock and slot, renewed while this run holds the deployment.
    const renewal =
      renewMs === undefined
        ? undefined
        : setInterval(
            () => void store.renew(d).catch((error) => logger.warn({ err: error }, 'lease renewal failed')),
            renewMs,
          );
    try {
      await drive(d, control);
    } catch (error) {
      // Another writer moved it on (a replica, the API, a sweep): its record says what happens next.
      if (error instanceof StaleWrite) {
        logger.info({ deployment: d.id }, 'stale: another writer changed the deployment; this run stops');
        return;
      }
      if (error instanceof Fenced) return fencedOut(d.id, error.message);
      throw error;
    } finally {
      clearInterval(renewal);
    }
  }

  /** Ends a deployment that lost its lock, touching nothing more in the cloud. */
  async function fencedOut(id: string, reason: string): Promise<void> {
    for (let tries = 0; tries < 20; tries++) {
      const d = await store.get(id);
      if (!d || isFinished(d)) return;
      logger.warn({ deployment: id }, reason);
      try {
        return await finish(d, 'failed', reason);
      } catch (error) {
        if (!(error instanceof StaleWrite)) throw error;
      }
    }
  }

  /**
   * A new run for a deployment no job is running (paused, or its run ended): it takes a free slot
   * or queues for one; answers which.
   */
  async function restart(d: Deployment, why: string): Promise<'run' | 'queued'> {
    const next = { ...d, run: (d.run ?? 1) + 1, state: 'running' as DeploymentState };
    const queued = { ...next, state: 'queued' as DeploymentState };
    const { resumed } = await store.transition(next, {
      event: { type: 'run-started', run: next.run, why },
      mode: 'resume',
      limit,
      queued,
    });
    Object.assign(d, next, resumed === 'queued' ? { state: 'queued' } : {}, { version: next.version });
    if (resumed === 'run') await enqueue(d);
    return resumed ?? 'run';
  }

  /**
   * Every live deployment keeps its lock and slot and has a run going; a finished or missing one
   * holds neither; one that lost its cluster ends.
   */
  async function sweep(): Promise<void> {
    // Holders of broken locks whose breaker died before ending them (they hold nothing read below).
    for (const [id, why] of await store.brokenHolders()) {
      await endBroken(id, why);
    }
    const slotted = new Set(await store.running());
    // Where each holder's lock is, for one whose record is missing.
    const clusterOf = new Map<string, string>();
    // The retention sweep's hold is not a deployment's: it carries a lease of its own and gives itself back.
    for (const lock of await store.locks()) if (!scalingDown(lock.owner)) clusterOf.set(lock.owner, lock.name);
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
      await startAdmitted(await store.reclaim({ id, service, env }, limit));
      return;
    }
    try {
      await store.renew(d);
    } catch (error) {
      if (error instanceof Fenced) return fencedOut(id, error.message);
      throw error;
    }
    if (!slotted || d.state === 'paused') return;
    const job = { id: d.id, run: d.run ?? 1 };
    const state = await queue.state(job);
    if (state === 'missing' && d.state === 'queued' && !d.startedAt) await enqueue(d);
    else if (state === 'completed' || state === 'failed' || state === 'missing' || state === 'unknown') {
      try {
        await restart(d, `run ${d.run ?? 1} ended (${state}) before the deployment did`);
      } catch (error) {
        if (error instanceof Fenced) return fencedOut(id, error.message);
        throw error;
      }
    }
  }

  let sending: Promise<void> | undefined;
  /** Delivers what the outbox holds; an entry is acknowledged only once sent (at least once). */
  function sendOutbox(): Promise<void> {
    sending ??= (async () => {
      try {
        for (;;) {
          const entries = await store.outbox.take(consumer, options.outboxIdleMs ?? 30_000);
          if (entries.length === 0) return;
          for (const entry of entries) {
            const d = await store.get(entry.deployment);
            if (d) await options.notifier.notify(d, entry.kind);
            await store.outbox.ack(entry.id);
          }
        }
      } catch (error) {
        logger.warn({ err: error }, 'outbox: sending failed; tried again at the next sweep');
      } finally {
        sending = undefined;
      }
    })();
    return sending;
  }

  /** Resumes, cancels or rolls back a paused deployment with a run of its own. */
  async function rerun(id: string, why: string, check: (d: Deployment) => boolean): Promise<Deployment | undefined> {
    for (let tries = 0; tries < 20; tries++) {
      const d = await store.get(id);
      if (!d || !check(d)) return undefined;
      try {
        const outcome = await restart(d, why);
        if (outcome === 'queued') await event(d, 'waiting-for-slot', { why });
        return d;
      } catch (error) {
        if (error instanceof Fenced) {
          await fencedOut(id, error.message);
          return undefined;
        }
        if (!(error instanceof StaleWrite)) throw error;
      }
    }
    return undefined;
  }

  /** Cancels or rolls back a deployment no job is running (paused, or not admitted yet). */
  async function unwindNow(id: string, kind: 'cancel' | 'rollback', by: string): Promise<void> {
    // Racing the worker or the admission: a refused write reads again and decides again.
    for (let tries = 0; tries < 20; tries++) {
      const d = await store.get(id);
      if (!d || isFinished(d)) return;
      try {
        if (d.state === 'queued' && !d.startedAt && !(await store.running()).includes(d.id)) {
          const verb = kind === 'cancel' ? 'cancelled' : 'rolled back';
          return await finish(d, 'cancelled', `${verb} by ${by} before it started`, kind);
        }
        // A run of its own sees the request and turns it back; a running one sees it already.
        if (d.state === 'paused') await rerun(id, `${kind} asked by ${by}`, (x) => x.state === 'paused');
        return;
      } catch (error) {
        if (!(error instanceof StaleWrite)) throw error;
      }
    }
  }

  /** Ends a broken lock's holder; settled only once ended (or gone), else the next sweep tries again. */
  async function endBroken(id: string, why: string) {
    await fencedOut(id, why);
    const d = await store.get(id);
    if (!d || isFinished(d)) await store.settleBreak(id);
  }

  /**
   * An admin's break of a cluster's lock: the lock, its holder's slot and place in the queue go in
   * one step, the holder ends where it stood (a run of it still going is refused at its next
   * step), and the cluster passes to whoever waits for it. Answers the break as recorded.
   */
  async function breakLock(service: string, env: string, by: string, reason: string) {
    const found = await store.breakLock(service, env, limit, { brokenBy: by, reason, at: now() });
    if (!found) return undefined;
    const { entry: broken } = found;
    await endBroken(broken.owner, `its lock was broken by ${by} (${reason}): stopped where it stood`);
    await startAdmitted(found.admitted);
    return broken;
  }

  return {
    /** Queues the first run of an admitted deployment. */
    start: enqueue,
    /** Starts the deployments a lock or slot given on admitted. */
    startAdmitted,
    breakLock,
    process,
    /** Answers false when it was not paused (any more). */
    async resume(id: string): Promise<boolean> {
      return (await rerun(id, 'resumed', (d) => d.state === 'paused')) !== undefined;
    },
    unwindNow,
    /**
     * A person's pause, cancel or rollback: saved against the record as it is, then acted on as
     * that state needs (a deployment no run is carrying is unwound now). Answers what happened.
     */
    async control(id: string, kind: 'pause' | 'cancel' | 'rollback', by: string, who: Record<string, unknown>) {
      const answer: ControlAnswer = await store.setControl(id, kind, by, {
        type: `${kind}-requested`,
        deployment: id,
        ...who,
      });
      if (answer.outcome === 'set' && kind !== 'pause') {
        if (answer.state === 'paused' || (answer.state === 'queued' && !answer.started)) await unwindNow(id, kind, by);
      }
      return answer;
    },
    finish,
    event,
    sweep,
    sendOutbox,
  };
}

export type DeploymentEngine = ReturnType<typeof createDeploymentEngine>;

export interface RunnerOptions extends EngineOptions {
  redisUrl: string;
  /** Redis Sentinel (a primary with replicas): BullMQ's connections follow the primary. */
  redisConnection?: QueueConnectionOptions;
  queuePrefix: string;
  /** BullMQ job lock: how soon a dead worker's run goes on elsewhere. */
  jobLockMs: number;
  sweepMs: number;
  /** How often a running deployment renews its lock and slot (well inside the store's lease). */
  renewMs?: number;
  /** False for a process that only submits (queues runs) and runs none itself. */
  runsActions?: boolean;
}

/** The engine with its BullMQ queue and workers, its lease renewals and its sweep. */
export function startRunner(options: RunnerOptions) {
  const { logger } = options;
  const connection = options.redisConnection ?? { url: options.redisUrl, prefix: options.queuePrefix };
  const bull = createQueue<JobData>('actions', { ...connection, prefix: options.queuePrefix });
  const engine = createDeploymentEngine({
    ...options,
    queue: {
      async enqueue(job) {
        await bull.add('run', job, {
          jobId: jobIdOf(job),
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 86_400 },
        });
      },
      async state(job) {
        const found = await bull.getJob(jobIdOf(job));
        return found ? found.getState() : 'missing';
      },
    },
  });

  const runs = options.runsActions ?? true;
  const worker = runs
    ? createWorker<JobData>(
        'actions',
        (job: Job<JobData>) => engine.process(job.data, options.renewMs ?? 5000),
        { ...connection, prefix: options.queuePrefix },
        {
          concurrency: Math.max(4, options.slots * 2),
          lockDuration: options.jobLockMs,
          stalledInterval: Math.max(500, Math.floor(options.jobLockMs / 2)),
          maxStalledCount: 1000,
        },
      )
    : undefined;
  worker?.on('failed', (job, error) => logger.warn({ job: job?.id, err: error }, 'run failed'));

  const tick = () =>
    void (async () => {
      await engine.sweep();
      await engine.sendOutbox();
    })().catch((error) => logger.warn({ err: error }, 'sweep failed'));
  const timer = setInterval(tick, options.sweepMs);
  timer.unref();
  if (runs) tick();
  else clearInterval(timer);

  return {
    ...engine,
    async close() {
      clearInterval(timer);
      await worker?.close();
      await bull.close();
    },
  };
}

export type Runner = ReturnType<typeof startRunner>;
