/**
 * Runs releases. A coordinator sweeps the unfinished ones; each tick of one release holds its
 * lease (lock.ts: a fencing token), reads the record, looks at its clusters' deployments,
 * starts what may start and saves with the token checked — so two orchestrators, or one that
 * crashed mid-tick, never start a cluster twice: each cluster's deployment has an id made from
 * the release, and a tick that finds it already submitted adopts it.
 */
import { isSlipwayError, NotAllowedError, type Logger } from '@slipway/core';
import { activeFreeze, policyOf } from '@slipway/metadata-api';
import type { LeasedLocks } from '@slipway/core/redis';
import { isUnsuccessfulState } from '@slipway/orchestrator-api';
import { cancelOnce, confirmation, submitDeployment, type CommandOptions } from '../deployments/commands.js';
import { isFinished, type Deployment } from '../deployments/deployment.js';
import { changeOf, skipReason } from '../deployments/preview.js';
import {
  clusterDone,
  isReleaseFinished,
  startable,
  type ConfirmedFrom,
  type ReleaseCluster,
  type ReleaseRecord,
} from './release.js';
import { promoteClaim } from './release-validation.js';
import type { ReleaseEvent, ReleaseStore } from './release-store.js';

export interface CoordinatorOptions extends CommandOptions {
  releases: ReleaseStore;
  /** Leases on releases; their lock keys are `${locksPrefix}lock:<name>`. */
  locks: LeasedLocks;
  locksPrefix: string;
  logger: Logger;
  tickMs: number;
}

type NewEvent = Omit<ReleaseEvent, 'release' | 'at'>;

/** The id of a cluster's deployment in a release: the same on every tick, so it is made once. */
export function clusterDeploymentId(releaseId: string, kind: 'w' | 'x', wave: number, cluster: number): string {
  return `dep-${releaseId.slice(4)}${kind}${wave}c${cluster}`;
}

export function startReleaseCoordinator(options: CoordinatorOptions) {
  const { releases, store, locks, logger } = options;
  const now = () => new Date().toISOString();

  async function submit(
    r: ReleaseRecord,
    c: ReleaseCluster,
    id: string,
    extra: Partial<Deployment>,
    image: string,
    commit: string,
  ) {
    const existing = await store.get(id);
    if (existing) return existing;
    return submitDeployment(
      options,
      {
        service: c.service,
        env: c.env,
        image,
        configRef: commit,
        message: `${r.message} [${r.id}]`,
        ...(r.params ? { params: r.params } : {}),
        queue: true,
        ...(extra.undoOf ? { strategy: 'red-black' as const } : {}),
      },
      r.by,
      { id, releaseId: r.id, ...extra },
    );
  }

  /**
   * What a cluster would change as it starts — evaluated now, not when the release was made: a
   * cluster running this image and config already is skipped (unless forced), and a promotion
   * only moves forward (Kargo's way) unless it allows a downgrade. The environment's rules are
   * read now too, since a release (a promotion, a wave after its bake) may start hours after it
   * was checked: a cluster frozen now is skipped, and one whose approvers do not name the
   * release's maker is refused (403, which fails the cluster). Answers why it is skipped, or the
   * version a downgrade goes back from.
   */
  async function evaluate(
    r: ReleaseRecord,
    c: ReleaseCluster,
  ): Promise<{ skip?: string; downgradeFrom?: string; checked?: Deployment['context']['confirmed'] }> {
    const image = await options.peers.image(c.image);
    if (!image) return {};
    const properties = (await options.peers.service(c.service))?.properties ?? {};
    const change = await changeOf(
      options,
      { service: c.service, env: c.env, image, commit: c.commit, instances: 0 },
      properties,
      [],
    );
    const promotion = r.items.some((i) => i.service === c.service && i.promotedFrom);
    const skip = skipReason(change, { promotion, allowDowngrade: r.allowDowngrade, force: r.force });
    if (skip) return { skip };
    const policy = policyOf(properties, c.env);
    const freeze = activeFreeze(policy);
    if (freeze) return { skip: `frozen until ${freeze.to}${freeze.reason ? ` (${freeze.reason})` : ''}` };
    if (policy.approvers.length > 0 && !policy.approvers.includes(r.by))
      throw new NotAllowedError(
        `${c.service} ${c.env} is changed only by ${policy.approvers.join(', ')}; ${r.by} is not one of them`,
      );
    // Production changes only from what a person confirmed when the release was made (nothing, if
    // it would have been skipped then): a scheduled release or a later wave may start after another
    // change, and that change back (or a first change of a cluster skipped then) was never confirmed.
    if (policy.requireConfirmation && !confirmedFromNow(c.confirmedFrom, change.from)) {
      const then = c.confirmedFrom
        ? `${c.confirmedFrom.image ?? 'nothing'} in ${c.confirmedFrom.group ?? 'no group'}`
        : 'nothing confirmed';
      return {
        skip: `${c.service} ${c.env} is production and ${change.from?.image ?? 'nothing'} serves it now, not what the release was confirmed against (${then}): a new release confirms it`,
      };
    }
    // What it was checked against: a deployment that waits behind another checks it again (actions.ts).
    const checked = confirmation(change.from, c.image, 'release');
    return change.downgrade && change.from?.version ? { downgradeFrom: change.from.version, checked } : { checked };
  }

  /** Why a promotion may not start this cluster: a newer one to its target (start-promotion.lua). */
  async function supersededBy(r: ReleaseRecord, c: ReleaseCluster): Promise<string | undefined> {
    for (const item of r.items) {
      if (!item.promotedFrom || item.service !== c.service || !item.clusters.includes(c.env)) continue;
      const newer = await releases.startPromotion(promoteClaim(item.service, item.env), r.id);
      if (newer) return `superseded by ${newer}, a newer promotion of ${item.service} to ${item.env}`;
    }
    return undefined;
  }

  /** Starts one cluster; a refusal (4xx) fails the cluster, anything else is tried again next tick. */
  async function start(r: ReleaseRecord, wave: number, index: number, events: NewEvent[]) {
    const c = r.waves[wave]!.clusters[index]!;
    const id = clusterDeploymentId(r.id, 'w', wave, index);
    try {
      // Evaluated once, before it is submitted: a submitted one (a crash after it) is adopted as it is.
      let downgradeFrom: string | undefined;
      let checked: Deployment['context']['confirmed'];
      if (!(await store.get(id))) {
        const evaluated = await evaluate(r, c);
        if (evaluated.skip) {
          Object.assign(c, { state: 'skipped', reason: evaluated.skip, finishedAt: now() });
          const { service, env } = c;
          events.push({ type: 'cluster-finished', service, env, wave, state: 'skipped', reason: evaluated.skip });
          return;
        }
        downgradeFrom = evaluated.downgradeFrom;
        checked = evaluated.checked;
        // Still the newest promotion to its target, checked and marked started in one step just
        // before it submits: one made while it was evaluated supersedes it.
        const superseded = await supersededBy(r, c);
        if (superseded) {
          // Nothing of it started yet: the whole release is superseded, as one still waiting is.
          if (!r.waves.some((w) => w.clusters.some((x) => x.deployment))) {
            skipAll(r, events, superseded);
            return;
          }
          Object.assign(c, { state: 'skipped', reason: superseded, finishedAt: now() });
          events.push({
            type: 'cluster-finished',
            service: c.service,
            env: c.env,
            wave,
            state: 'skipped',
            reason: superseded,
          });
          return;
        }
      }
      const context = { ...(downgradeFrom ? { downgradeFrom } : {}), ...(checked ? { confirmed: checked } : {}) };
      await submit(r, c, id, { context }, c.image, c.commit);
      Object.assign(c, { state: 'deploying', deployment: id, startedAt: now() });
      events.push({
        type: 'cluster-started',
        service: c.service,
        env: c.env,
        wave,
        deployment: id,
        ...(downgradeFrom ? { downgradeFrom } : {}),
      });
    } catch (error) {
      if (!isSlipwayError(error) || error.status >= 500) throw error;
      Object.assign(c, { state: 'failed', reason: error.message, finishedAt: now() });
      events.push({
        type: 'cluster-finished',
        service: c.service,
        env: c.env,
        wave,
        state: 'failed',
        reason: error.message,
      });
    }
  }

  /** rollback-all: the previous (image, config commit) of a cluster this release changed. */
  async function rollBack(r: ReleaseRecord, wave: number, index: number, events: NewEvent[]) {
    const c = r.waves[wave]!.clusters[index]!;
    const [current, previous] = await store.history(c.service, c.env, 2);
    if (!current || current.deployment !== c.deployment || !previous) {
      c.reason = 'kept: nothing earlier of this release to go back to';
      return;
    }
    const id = clusterDeploymentId(r.id, 'x', wave, index);
    await submit(
      r,
      c,
      id,
      {
        undoOf: current.deployment,
        context: {
          group: previous.group,
          // Checked again when it holds the cluster: a person's deploy it waited behind is not undone.
          confirmed: confirmation(current, previous.image, 'release'),
        },
      },
      previous.image,
      previous.commit,
    );
    Object.assign(c, { state: 'rolling-back', rollback: id });
    events.push({ type: 'cluster-rolling-back', service: c.service, env: c.env, wave, deployment: id });
  }

  /** Brings the clusters' states up to date with their deployments. */
  async function observe(r: ReleaseRecord, events: NewEvent[]) {
    for (const wave of r.waves) {
      for (const c of wave.clusters) {
        const watched = c.state === 'deploying' ? c.deployment : c.state === 'rolling-back' ? c.rollback : undefined;
        if (!watched) continue;
        const d = await store.get(watched);
        if (!d || !isFinished(d)) continue;
        const state = c.state === 'rolling-back' ? (d.state === 'succeeded' ? 'rolled-back' : 'failed') : d.state;
        Object.assign(c, { state, finishedAt: now(), ...(d.reason ? { reason: d.reason } : {}) });
        events.push({
          type: 'cluster-finished',
          service: c.service,
          env: c.env,
          wave: wave.index,
          state,
          reason: d.reason,
        });
      }
    }
  }

  /** One step of a release; answers the events to record with it. */
  async function advance(r: ReleaseRecord): Promise<NewEvent[]> {
    const events: NewEvent[] = [];
    await observe(r, events);
    const clusters = r.waves.flatMap((w) => w.clusters);
    const failed = clusters.find(
      (c) => !c.rollback && (c.state === 'failed' || (isUnsuccessfulState(c.state) && c.deployment)),
    );
    if (!r.failure && !r.cancel && failed) {
      r.failure = `${failed.service} ${failed.env}: ${failed.reason ?? failed.state}`;
      events.push({ type: 'stopped', reason: r.failure });
    }
    // One pending promotion per target: a newer one to the same clusters supersedes this one.
    if (!r.failure && !r.cancel && !r.startedAt) {
      for (const item of r.items.filter((i) => i.promotedFrom)) {
        const newest = await releases.promotion(promoteClaim(item.service, item.env));
        if (newest && newest !== r.id)
          return skipAll(r, events, `superseded by ${newest}, a newer promotion of ${item.service} to ${item.env}`);
      }
    }
    if (!r.failure && !r.cancel && r.notBefore && Date.now() < Date.parse(r.notBefore)) {
      for (const item of r.items) {
        if (!item.promotedFrom) continue;
        const [serving] = await store.history(item.service, item.promotedFrom.env, 1);
        if (serving?.deployment !== item.promotedFrom.deployment) {
          r.failure = `${item.service} ${item.promotedFrom.env} no longer serves ${item.image} (replaced or rolled back) before the promotion's wait ended`;
          events.push({ type: 'stopped', reason: r.failure });
        }
      }
      if (!r.failure) return events;
    }
    if (r.failure || r.cancel) return wind(r, events);
    if (r.state === 'paused') return events;
    if (r.state === 'waiting') {
      r.state = 'running';
      events.push({ type: 'started' });
    }
    r.startedAt ??= now();
    for (const wave of r.waves) {
      const last = wave.index === r.waves.length - 1;
      if (wave.clusters.every(clusterDone)) {
        if (!wave.finishedAt) {
          wave.finishedAt = now();
          // A wave that changed nothing has nothing to bake.
          const changed = wave.clusters.some((c) => c.state === 'succeeded');
          if (!last && changed) wave.bakeUntil = new Date(Date.now() + wave.bakeSeconds * 1000).toISOString();
          events.push({
            type: 'wave-finished',
            wave: wave.index,
            ...(wave.bakeUntil ? { bakeUntil: wave.bakeUntil } : {}),
          });
        }
        if (wave.bakeUntil && Date.now() < Date.parse(wave.bakeUntil)) return events;
        continue;
      }
      if (!wave.startedAt) {
        wave.startedAt = now();
        events.push({
          type: 'wave-started',
          wave: wave.index,
          clusters: wave.clusters.map((c) => `${c.service} ${c.env}`),
        });
      }
      for (const c of startable(wave)) {
        if (isReleaseFinished(r)) break;
        await start(r, wave.index, wave.clusters.indexOf(c), events);
      }
      return events;
    }
    if (clusters.length > 0 && clusters.every((c) => c.state === 'skipped')) {
      const reasons = [...new Set(clusters.map((c) => `${c.service} ${c.env} ${c.reason}`))];
      Object.assign(r, { state: 'skipped', reason: `nothing to change: ${reasons.join('; ')}`, finishedAt: now() });
      events.push({ type: 'finished', state: r.state, reason: r.reason });
      return events;
    }
    Object.assign(r, { state: 'succeeded', finishedAt: now() });
    events.push({ type: 'finished', state: r.state });
    return events;
  }

  /** Ends a release that never started (superseded): every cluster left as it is, saying why. */
  function skipAll(r: ReleaseRecord, events: NewEvent[], reason: string): NewEvent[] {
    for (const c of r.waves.flatMap((w) => w.clusters)) Object.assign(c, { state: 'skipped', reason });
    Object.assign(r, { state: 'skipped', reason, finishedAt: now() });
    events.push({ type: 'finished', state: r.state, reason });
    return events;
  }

  /** After a failure or a cancel: nothing new starts; what runs finishes (or is cancelled); then rollback-all. */
  async function wind(r: ReleaseRecord, events: NewEvent[]): Promise<NewEvent[]> {
    const clusters = r.waves.flatMap((w) => w.clusters);
    for (const c of clusters.filter((c) => c.state === 'pending')) c.state = 'not-started';
    if (r.cancel) {
      for (const c of clusters.filter((c) => c.state === 'deploying'))
        await cancelOnce(options, c.deployment!, { by: r.cancel, release: r.id });
    }
    if (clusters.some((c) => c.state === 'deploying' || c.state === 'rolling-back')) return events;
    if (r.failure && !r.cancel && r.onFailure === 'rollback-all') {
      for (const wave of r.waves) {
        for (const [index, c] of wave.clusters.entries()) {
          if (c.state === 'succeeded' && !c.rollback && !c.reason) await rollBack(r, wave.index, index, events);
        }
      }
      if (clusters.some((c) => c.state === 'rolling-back')) return events;
    }
    Object.assign(r, {
      state: r.cancel ? 'cancelled' : 'failed',
      reason: r.cancel ? `cancelled by ${r.cancel}` : r.failure,
      finishedAt: now(),
    });
    events.push({ type: 'finished', state: r.state, reason: r.reason });
    return events;
  }

  async function tick(id: string): Promise<void> {
    const name = releases.leaseName(id);
    const lease = await locks.acquire(name, id, 'release coordinator');
    if (!('token' in lease)) return;
    // Renewed while the tick runs: a slow tick never overlaps another replica's.
    const renewal = setInterval(
      () =>
        void locks
          .renew(name, lease.token)
          .catch((error) => logger.warn({ err: error }, 'release lease renewal failed')),
      Math.max(50, Math.floor(locks.leaseMs / 3)),
    );
    try {
      const r = await releases.get(id);
      if (!r || isReleaseFinished(r)) return;
      const before = JSON.stringify(r);
      const events = await advance(r);
      if (events.length === 0 && JSON.stringify(r) === before) return;
      const saved = await releases.save(r, events, { key: `${options.locksPrefix}lock:${name}`, token: lease.token });
      if (!saved) logger.info({ release: id }, 'release changed meanwhile; the next tick reads it again');
      else if (isReleaseFinished(r)) logger.info({ release: id, state: r.state, reason: r.reason }, 'release finished');
    } finally {
      clearInterval(renewal);
      await locks.unlock(name, lease.token);
    }
  }

  let running = false;
  async function sweep(): Promise<void> {
    if (running) return;
    running = true;
    try {
      for (const id of await releases.active()) {
        await tick(id).catch((error) => logger.warn({ release: id, err: error }, 'release tick failed; tried again'));
      }
    } finally {
      running = false;
    }
  }
  const timer = setInterval(
    () => void sweep().catch((error) => logger.warn({ err: error }, 'release sweep failed')),
    options.tickMs,
  );
  timer.unref();

  return {
    /** Looks at one release now (after a request changed it) instead of at the next sweep. */
    poke(id: string) {
      void tick(id).catch((error) => logger.warn({ release: id, err: error }, 'release tick failed; tried again'));
    },
    sweep,
    async close() {
      clearInterval(timer);
      while (running) await new Promise((resolve) => setTimeout(resolve, 20));
    },
  };
}

export type ReleaseCoordinator = ReturnType<typeof startReleaseCoordinator>;

/** Whether what serves a cluster now is what its change was confirmed against. */
function confirmedFromNow(
  confirmed: ConfirmedFrom | undefined,
  now: { group?: string | null; image?: string | null; commit?: string | null } | null,
): boolean {
  if (!confirmed) return false;
  return (
    confirmed.group === (now?.group ?? null) &&
    confirmed.image === (now?.image ?? null) &&
    confirmed.commit === (now?.commit ?? null)
  );
}
