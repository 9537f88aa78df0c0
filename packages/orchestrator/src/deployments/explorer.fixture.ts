/**
 * The interleaving explorer's world (not built): the deployment engine of each orchestrator
 * replica ("process") over one real Redis and the stand-in cloud, every call it makes to Redis,
 * the cloud and its peers — and every wait — a point where fast-check's scheduler decides who
 * goes on next. A process is killed at whatever await it stands (its calls never answer again,
 * its runs' jobs stall and go back to the queue as BullMQ's do) and a new one starts with a sweep.
 * Commands are what people and replicas do: deploy, pause, resume, cancel, roll back, undo, break
 * a lock, a second replica's sweep, and its release tick (which submits a release's cluster again
 * by the id it was first submitted with). After every step the invariants of issue 22 are checked.
 */
import type { CloudProvider } from '@slipway/cloud';
import type { Redis } from '@slipway/core/redis';
import { standInCloud, type StandInCloud } from '@slipway/test-utils';
import type { Scheduler } from 'fast-check';
import { isFinished, type Deployment } from './deployment.js';
import type { NotificationKind } from '../notify.js';
import { submitDeployment } from './commands.js';
import { jobIdOf, createDeploymentEngine, type DeploymentEngine, type JobData } from './runner.js';
import { logger, standInPeers } from './runner.fixture.js';
import { createRedisDeploymentStore, type DeploymentStore } from './store.js';
import { undoTarget } from './undo.js';
import type { Runner } from './runner.js';
import { leftInService } from '../notify.js';

export type Command =
  | {
      kind: 'deploy';
      cluster: number;
      bad: boolean;
      strategy: 'red-black' | 'highlander';
      retained: number;
      queue: boolean;
      /** Submitted as a release's cluster is: by a fixed id, which a release tick may submit again. */
      release?: boolean;
    }
  | { kind: 'pause' | 'resume' | 'cancel' | 'rollback'; target: number }
  | { kind: 'undo'; cluster: number }
  | { kind: 'break'; cluster: number }
  | { kind: 'sweep'; process: number }
  | { kind: 'tick'; process: number; target: number }
  | { kind: 'kill'; process: number };

export const CLUSTERS = ['alpha', 'beta'];
const LIMIT = 2;
const NEVER = new Promise<never>(() => undefined);

interface Process {
  n: number;
  alive: boolean;
  engine: DeploymentEngine;
  store: DeploymentStore;
}

interface Job {
  data: JobData;
  state: 'waiting' | 'active' | 'completed' | 'failed';
  owner?: Process;
}

/** A request a person made and what they were told. */
interface Request {
  kind: string;
  deployment: string;
  answer?: string;
}

export class Violation extends Error {}

/** A cluster's newest deployment (its index's highest score) and what write_last kept of it, read in one step. */
const NEWEST_AND_KEPT = `
local kept = redis.call('HGET', KEYS[1], ARGV[1])
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0)[1]
local raw = false
if newest then raw = redis.call('GET', ARGV[2] .. newest) end
return { kept or '', newest or '', raw or '' }`;

/** What a list of clusters is to show of a record (store.ts lastOf), said again here as the invariant. */
const summaryOf = (d: Deployment) => ({
  id: d.id,
  state: d.state,
  by: d.by,
  createdAt: d.createdAt,
  finishedAt: d.finishedAt,
  undoOf: d.undoOf,
  region: d.context.params?.region ?? null,
});

export async function exploreOnce(
  s: Scheduler,
  redis: Redis,
  prefix: string,
  plan: { delay: number; command: Command }[],
) {
  const standIn: StandInCloud = standInCloud();
  const plain = createRedisDeploymentStore({ redis, prefix, leaseMs: 600_000 });
  const jobs = new Map<string, Job>();
  const processes: Process[] = [];
  const deployments: string[] = [];
  const requests: Request[] = [];
  const delivered: { deployment: string; kind: NotificationKind }[] = [];
  const everServed = new Set<string>();
  const brokenWhileRunning = new Set<string>();
  /** A release's cluster deployments: what a tick of any replica submits again, by the same id. */
  const releaseClusters: { id: string; command: Extract<Command, { kind: 'deploy' }>; image: string }[] = [];
  /** Each record as first seen: admitted twice would start it over (a lower version, a new creation). */
  const firstSeen = new Map<string, { createdAt: string; version: number }>();
  /** Each live deployment's waits' ends as saved (since it last paused). */
  const waitsSeen = new Map<string, Record<string, number>>();
  const actors = new Map<Promise<unknown>, Process>();
  let steps = 0;

  /** Each call of `target`'s methods answers when the scheduler says, and never once `p` is dead. */
  function scheduled<T extends object>(p: { alive: boolean }, target: T, label: string): T {
    return new Proxy(target, {
      get(object, property) {
        const value = Reflect.get(object, property) as unknown;
        if (typeof value !== 'function') {
          return value && typeof value === 'object' ? scheduled(p, value, `${label}.${String(property)}`) : value;
        }
        return (...args: unknown[]) => {
          if (!p.alive) return NEVER;
          const result = Promise.resolve().then(() => (value as (...a: unknown[]) => unknown).apply(object, args));
          return s.schedule(result, `${label}.${String(property)}`).then(
            (answer) => (p.alive ? answer : NEVER),
            (error: unknown) => (p.alive ? Promise.reject(error) : NEVER),
          );
        };
      },
    });
  }

  function start(): Process {
    const p = { n: processes.length, alive: true } as Process;
    p.store = scheduled(p, plain, `p${p.n}.store`);
    p.engine = createDeploymentEngine({
      store: p.store,
      cloud: scheduled(p, standIn.cloud, `p${p.n}.cloud`) as unknown as CloudProvider,
      peers: scheduled(p, standInPeers, `p${p.n}.peers`),
      logger,
      pollMs: 0,
      slots: LIMIT,
      notifier: { notify: async (d, kind) => void delivered.push({ deployment: d.id, kind }) },
      consumer: `p${p.n}`,
      // A dead sender's entries are another's at once: delivered at least once, deduped by the receiver.
      outboxIdleMs: 0,
      sleep: () => (p.alive ? s.schedule(Promise.resolve(), `p${p.n}.sleep`) : NEVER),
      queue: {
        async enqueue(data) {
          if (!jobs.has(jobIdOf(data))) jobs.set(jobIdOf(data), { data, state: 'waiting' });
        },
        async state(data) {
          return jobs.get(jobIdOf(data))?.state ?? 'missing';
        },
      },
    });
    processes.push(p);
    act(p, () => p.engine.sweep());
    return p;
  }

  function act(p: Process, work: () => Promise<unknown>) {
    const promise = work().catch((error: unknown) => {
      if (error instanceof Violation) throw error;
    });
    actors.set(promise, p);
    void promise.finally(() => actors.delete(promise));
    return promise;
  }

  const live = () => processes.filter((p) => p.alive);
  /** Something a live process is still doing (a dead one's never ends). */
  const busy = () => s.count() > 0 || [...actors.values()].some((p) => p.alive);
  const pick = (n: number) => live()[n % live().length]!;

  /** A live process takes each waiting job, as a BullMQ worker does. */
  function runJobs() {
    for (const job of jobs.values()) {
      if (job.state !== 'waiting') continue;
      const p = live()[0]!;
      Object.assign(job, { state: 'active', owner: p });
      act(p, async () => {
        try {
          await p.engine.process(job.data);
          if (job.owner === p) job.state = 'completed';
        } catch (error) {
          if (job.owner === p) job.state = 'failed';
          throw error;
        }
      });
    }
  }

  function kill(p: Process) {
    p.alive = false;
    // Its runs stall; BullMQ moves a stalled job back to waiting for another worker.
    for (const job of jobs.values()) if (job.state === 'active' && job.owner === p) job.state = 'waiting';
    start();
  }

  /** What process `p` submits through, as the API does. */
  const submitterOf = (p: Process) => ({
    store: p.store,
    runner: p.engine as unknown as Runner,
    peers: standInPeers,
    cloud: standIn.cloud as unknown as CloudProvider,
    slots: LIMIT,
  });

  /** A deployment submitted by process `p`, under a release's fixed id when `id` is given. */
  async function deploy(p: Process, command: Extract<Command, { kind: 'deploy' }>, image: string, id?: string) {
    const service = CLUSTERS[command.cluster % CLUSTERS.length]!;
    const d = await submitDeployment(
      submitterOf(p),
      {
        service,
        env: 'prod',
        image,
        message: 'explore',
        strategy: command.strategy,
        queue: command.queue,
        params: {
          strategy: {
            retainedGroups: command.retained,
            burnInSeconds: 0,
            drainSeconds: 0,
            healthTimeoutSeconds: 5,
          },
        },
      },
      'explorer',
      id ? { id, releaseId: 'rel-explore' } : {},
    ).catch(() => undefined);
    if (d && !deployments.includes(d.id)) deployments.push(d.id);
  }

  /** What a release tick does for one cluster: reads its deployment, and submits it when there is none. */
  function tick(q: Process, cluster: (typeof releaseClusters)[number]) {
    act(q, async () => {
      if (await q.store.get(cluster.id)) return;
      await deploy(q, cluster.command, cluster.image, cluster.id);
    });
  }

  async function issue(command: Command) {
    const p = live()[0]!;
    switch (command.kind) {
      case 'deploy': {
        const image = `img-${CLUSTERS[command.cluster % CLUSTERS.length]}-${command.bad ? 'bad' : 'good'}${deployments.length}`;
        if (!command.release) {
          act(p, () => deploy(p, command, image));
          return;
        }
        // A release's cluster: submitted by a tick that finds no record yet, and by a second
        // replica's tick overlapping it (each reads, then submits the same fixed id).
        const cluster = { id: `rel-explore-${releaseClusters.length}`, command, image };
        releaseClusters.push(cluster);
        tick(p, cluster);
        tick(pick(1), cluster);
        return;
      }
      case 'tick': {
        // A later tick of the same release, on any replica.
        const cluster = releaseClusters[command.target % Math.max(releaseClusters.length, 1)];
        if (cluster) tick(pick(command.process), cluster);
        return;
      }
      case 'undo': {
        const service = CLUSTERS[command.cluster % CLUSTERS.length]!;
        act(p, async () => {
          const serving = standIn.inService(`${service}-prod`).at(-1);
          const target = undoTarget(await p.store.history(service, 'prod', 2), serving ? { name: serving } : null);
          if (!target) return;
          const d = await submitDeployment(
            submitterOf(p),
            { service, env: 'prod', image: target.previous.image, message: 'undo', strategy: 'red-black', queue: true },
            'explorer',
            { context: { group: target.previous.group } },
          ).catch(() => undefined);
          if (d) deployments.push(d.id);
        });
        return;
      }
      case 'pause':
      case 'cancel':
      case 'rollback':
      case 'resume': {
        const id = deployments[command.target % Math.max(deployments.length, 1)];
        if (!id) return;
        const request: Request = { kind: command.kind, deployment: id };
        requests.push(request);
        act(p, async () => {
          if (command.kind === 'resume') {
            request.answer = (await p.engine.resume(id)) ? 'set' : 'refused: not paused';
            return;
          }
          const answer = await p.engine.control(id, command.kind, 'explorer', { by: 'explorer' });
          request.answer = answer.outcome === 'refused' ? `refused: ${answer.reason}` : answer.outcome;
        });
        return;
      }
      case 'break': {
        const service = CLUSTERS[command.cluster % CLUSTERS.length]!;
        const owner = await plain.holder(service, 'prod');
        if (owner && [...jobs.values()].some((j) => j.state === 'active' && j.data.id === owner))
          brokenWhileRunning.add(owner);
        act(p, () => p.engine.breakLock(service, 'prod', 'explorer', 'explored'));
        return;
      }
      case 'sweep':
        act(pick(command.process), () => pick(command.process).engine.sweep());
        return;
      case 'kill':
        kill(pick(command.process));
        return;
    }
  }

  /** Lets what was released run to its next scheduled point. */
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  async function step() {
    runJobs();
    await settle();
    if (s.count() > 0) {
      await s.waitOne();
      steps++;
    }
    await settle();
    await check();
  }

  /** Every deployment admitted (one whose submitter died after its admission too). */
  async function records(): Promise<Deployment[]> {
    const ids = await redis.zrange(`${prefix}deployments`, 0, -1);
    for (const id of ids) if (!deployments.includes(id)) deployments.push(id);
    return (await Promise.all(ids.map((id) => plain.get(id)))).filter((d): d is Deployment => !!d);
  }

  async function check() {
    const all = await records();
    for (const d of all) {
      const first = firstSeen.get(d.id);
      const now = { createdAt: d.createdAt, version: d.version ?? 0 };
      if (first && (first.createdAt !== now.createdAt || now.version < first.version))
        throw new Violation(`${d.id} was admitted twice: version ${first.version} → ${now.version}, started over`);
      firstSeen.set(d.id, now);
      // A wait's end, once saved, is where every run of it ends (a crash, a second replica): only a
      // pause lets its action, and its waits, start over.
      if (d.state === 'paused') {
        waitsSeen.delete(d.id);
        continue;
      }
      const seen = waitsSeen.get(d.id) ?? {};
      for (const [name, end] of Object.entries(d.context.waits ?? {})) {
        if (seen[name] !== undefined && seen[name] !== end)
          throw new Violation(
            `${d.id}'s wait ${name} started its clock again: its end moved from ${seen[name]} to ${end}`,
          );
        seen[name] = end;
      }
      waitsSeen.set(d.id, seen);
    }
    for (const service of CLUSTERS) {
      const cluster = `${service}-prod`;
      const serving = standIn.inService(cluster);
      if (serving.length) everServed.add(cluster);
      else if (everServed.has(cluster)) throw new Violation(`${cluster} served, and now nothing is in service`);
      const [lockToken, fence] = await Promise.all([
        redis.hget(`${prefix}lock:${service}:prod`, 'token'),
        redis.get(`${prefix}fence:${service}:prod`),
      ]);
      const holding: string[] = [];
      for (const d of all.filter((x) => x.service === service && !isFinished(x) && x.startedAt)) {
        const mine = await redis.get(`${prefix}holds:${d.id}`);
        if (mine && (lockToken ? lockToken === mine : fence === mine)) holding.push(d.id);
      }
      if (holding.length > 1) throw new Violation(`${cluster} has two active deployments: ${holding.join(', ')}`);
      // What a list of clusters reads of the cluster's newest deployment (write_last) is that record's, as it is now.
      const [kept, newest, raw] = (await redis.eval(
        NEWEST_AND_KEPT,
        2,
        `${prefix}deployments:last`,
        `${prefix}deployments:${service}:prod`,
        `${service}:prod`,
        `${prefix}deployment:`,
      )) as [string, string, string];
      const expected = raw ? JSON.stringify(summaryOf(JSON.parse(raw) as Deployment)) : '';
      if (kept !== expected)
        throw new Violation(
          `${cluster}'s newest deployment ${newest || '(none)'} is ${expected || 'none'}, kept ${kept || 'none'}`,
        );
    }
    const slots = await redis.zrange(`${prefix}running`, 0, -1);
    if (slots.length > LIMIT) throw new Violation(`${slots.length} slots held, the limit is ${LIMIT}`);
    const admission = await redis.lrange(`${prefix}admission`, 0, -1);
    for (const d of all.filter(isFinished)) {
      const owner = await redis.hget(`${prefix}lock:${d.service}:${d.env}`, 'owner');
      if (
        slots.includes(d.id) ||
        admission.includes(d.id) ||
        owner === d.id ||
        (await redis.exists(`${prefix}holds:${d.id}`))
      )
        throw new Violation(`${d.id} finished ${d.state} and still holds a lock or a slot`);
    }
  }

  // The plan: each command after its delay (steps of the scheduler).
  start();
  start();
  for (const { delay, command } of plan) {
    for (let i = 0; i < delay && (s.count() > 0 || jobs.size > 0); i++) await step();
    await issue(command);
    await step();
  }
  // Then everything runs out: paused deployments resumed, replicas sweeping, until all ended.
  for (let round = 0; ; round++) {
    if (round > 20_000)
      throw new Violation(
        `stuck: ${JSON.stringify((await records()).filter((d) => !isFinished(d)).map((d) => [d.id, d.state]))}`,
      );
    await step();
    if (busy() || [...jobs.values()].some((j) => j.state === 'waiting')) continue;
    const open = (await records()).filter((d) => !isFinished(d));
    if (open.length === 0) break;
    const p = live()[0]!;
    for (const d of open) if (d.state === 'paused') act(p, () => p.engine.resume(d.id));
    act(p, async () => {
      await p.engine.sweep();
      await p.engine.sendOutbox();
    });
  }
  // The outbox emptied.
  for (let round = 0; round < 50; round++) {
    const p = live()[0]!;
    act(p, () => p.engine.sendOutbox());
    while (busy()) await step();
    if ((await redis.xlen(`${prefix}outbox`)) === 0) break;
  }
  await finalChecks();
  return { steps, deployments: deployments.length };

  async function finalChecks() {
    const all = await records();
    // Each outcome counted once, notified at least once, and once deduped by (deployment, outcome).
    const totals = await redis.hgetall(`${prefix}metrics:deployments`);
    const counted = Object.values(totals).reduce((sum, n) => sum + Number(n), 0);
    if (counted !== all.length) throw new Violation(`${counted} outcomes counted for ${all.length} deployments`);
    const outcome = {
      succeeded: 'success',
      'rolled-back': 'rollback',
      failed: 'failure',
      cancelled: 'failure',
    } as const;
    for (const d of all) {
      const kinds = new Set(delivered.filter((n) => n.deployment === d.id && n.kind !== 'start').map((n) => n.kind));
      const expected = outcome[d.state as keyof typeof outcome];
      if (kinds.size !== 1 || !kinds.has(expected))
        throw new Violation(`${d.id} ${d.state}: notified ${[...kinds].join(', ') || 'nothing'}`);
    }
    // Every request applied or refused with a reason said.
    for (const r of requests) {
      const d = all.find((x) => x.id === r.deployment);
      if (!d || r.answer === undefined || r.answer.startsWith('refused') || r.answer === 'finished') continue;
      const events = (await plain.events(d.id)).map((e) => e.event);
      const said =
        events.some((e) => e.type === 'requests-unapplied') ||
        (r.kind === 'pause' && events.some((e) => e.type === 'paused')) ||
        (r.kind === 'resume' && events.some((e) => e.type === 'run-started')) ||
        ((r.kind === 'cancel' || r.kind === 'rollback') &&
          (d.unwinding?.request === r.kind || /before it started/.test(d.reason ?? '') || d.unwinding !== undefined)) ||
        /lock was broken/.test(d.reason ?? '');
      if (!said) throw new Violation(`${r.kind} of ${d.id} (${d.state}) neither applied nor refused in words`);
    }
    // The record's end is true to the cloud, for the last deployment of each cluster.
    for (const service of CLUSTERS) {
      const last = all
        .filter((d) => d.service === service && d.startedAt && d.context.group)
        .sort((a, b) => Date.parse(a.finishedAt!) - Date.parse(b.finishedAt!))
        .at(-1);
      if (!last || brokenWhileRunning.has(last.id)) continue;
      const group = last.context.group!;
      const inService = standIn.inService(`${service}-prod`).includes(group);
      const serves =
        last.state === 'succeeded' ||
        (last.state === 'failed' && leftInService(last)) ||
        (last.irrevocable !== undefined && last.state !== 'cancelled');
      if (last.state === 'succeeded' && !inService)
        throw new Violation(`${last.id} succeeded but ${group} is out of service`);
      if (!serves && inService && standIn.inService(`${service}-prod`).length > 1)
        throw new Violation(`${last.id} ended ${last.state} (${last.reason}) but ${group} still serves`);
    }
  }
}
