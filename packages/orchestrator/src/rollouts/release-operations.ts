/** The release and sync operations of @slipway/orchestrator-api's OpenAPI document, by operationId. */
import {
  ConflictError,
  NotFoundError,
  principalOf,
  typedQuery,
  type TypedOperations,
  type TypedRequest,
  type TypedResponse,
} from '@slipway/core';
import { type StreamConnection } from '@slipway/core/redis';
import { refuseAdminOnlyParams } from '../deployments/deployment.js';
import { followEvents } from '../follow.js';
import { enforcePolicy, type Preview } from '../deployments/preview.js';
import { isReleaseFinished, type ReleaseRecord } from './release.js';
import type { ReleaseEvent, ReleaseStore } from './release-store.js';
import { validateRelease, type ValidationDeps } from './release-validation.js';
import type { ReleaseCoordinator } from './releases.js';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import { syncReport } from './sync.js';

export interface ReleaseOperationsOptions extends ValidationDeps {
  releases: ReleaseStore;
  coordinator: ReleaseCoordinator;
  followConnection: (subject: string) => StreamConnection;
}

/**
 * Ends a release made with every cluster skipped, in the words the coordinator uses when it
 * evaluates one that runs; answers the events that say so.
 */
function skippedNow(release: ReleaseRecord, preview: Preview): Omit<ReleaseEvent, 'release' | 'at'>[] {
  const at = new Date().toISOString();
  const events: Omit<ReleaseEvent, 'release' | 'at'>[] = [];
  for (const wave of release.waves)
    for (const c of wave.clusters) {
      const reason =
        preview.clusters.find((p) => p.service === c.service && p.env === c.env)?.skip ?? 'nothing to change';
      Object.assign(c, { state: 'skipped', reason, finishedAt: at });
      events.push({
        type: 'cluster-finished',
        service: c.service,
        env: c.env,
        wave: wave.index,
        state: 'skipped',
        reason,
      });
    }
  const reasons = [
    ...new Set(release.waves.flatMap((w) => w.clusters.map((c) => `${c.service} ${c.env} ${c.reason}`))),
  ];
  delete release.notBefore;
  Object.assign(release, { state: 'skipped', reason: `nothing to change: ${reasons.join('; ')}`, finishedAt: at });
  events.push({ type: 'finished', state: release.state, reason: release.reason });
  return events;
}

/** The release and sync operations, typed from the document (app.ts checks that every operation has one). */
export function createReleaseOperations(options: ReleaseOperationsOptions) {
  const { releases, coordinator } = options;

  async function mustGet(id: string): Promise<ReleaseRecord> {
    const release = await releases.get(id);
    if (!release) throw new NotFoundError(`no release ${id}`);
    return release;
  }

  /** Read, change, compare-and-set; a coordinator's write in between means read again. The event names who asked. */
  async function change(id: string, by: string, apply: (r: ReleaseRecord) => string): Promise<ReleaseRecord> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = await mustGet(id);
      if (isReleaseFinished(r)) throw new ConflictError(`release ${id} is ${r.state}`);
      const type = apply(r);
      if (await releases.save(r, [{ type, state: r.state, by }])) {
        coordinator.poke(id);
        return r;
      }
    }
    throw new ConflictError(`release ${id} kept changing; try again`);
  }

  type Control = operations['pauseRelease'];
  async function control(req: TypedRequest<Control>, res: TypedResponse<Control>, kind: 'pause' | 'resume' | 'cancel') {
    const by = principalOf(req).subject;
    const release = await change(req.params.id, by, (r) => {
      if (kind === 'pause') {
        if (r.state !== 'running' && r.state !== 'waiting') throw new ConflictError(`release ${r.id} is ${r.state}`);
        r.state = 'paused';
        return 'paused';
      }
      if (kind === 'resume') {
        if (r.state !== 'paused') throw new ConflictError(`release ${r.id} is ${r.state}, not paused`);
        // A promotion paused while it waited its --after waits again: it starts (and says so) when its time comes.
        r.state = !r.startedAt && r.notBefore ? 'waiting' : 'running';
        return 'resumed';
      }
      r.cancel ??= by;
      return 'cancel-requested';
    });
    res.status(202).json(release);
  }

  return {
    async createRelease(req, res) {
      refuseAdminOnlyParams(req.body.params, principalOf(req));
      const by = principalOf(req).subject;
      const { confirm, ...request } = req.body;
      const { release, preview, promotes } = await validateRelease(options, request, by);
      enforcePolicy(preview, { confirm, by });
      // A release that would change nothing is refused, as a deploy of what serves is.
      const skipping = preview.clusters.length > 0 && preview.clusters.every((c) => c.skip);
      if (preview.action !== 'promote' && skipping)
        throw new ConflictError(
          `nothing to release: ${preview.clusters.map((c) => `${c.service} ${c.env} ${c.skip}`).join('; ')}; ask with force to deploy it again`,
        );
      const created = {
        type: 'created',
        state: release.state,
        waves: release.waves.map((w) => w.clusters.map((c) => `${c.service} ${c.env}`)),
      };
      if (skipping) {
        // A promotion that would change nothing (every cluster runs that version or newer) ends
        // skipped now, saying why as it would when it runs: nothing waits its --after. It is still
        // the newest promotion to its target (a waiting one is superseded). One that moves forward
        // somewhere waits, and is evaluated again when it runs: what serves may change by then.
        const ended = skippedNow(release, preview);
        await releases.create(release, [{ ...created, state: release.state }, ...ended], promotes);
        res.status(200).location(`/releases/${release.id}`);
        res.json({ id: release.id, state: release.state, reason: release.reason! });
        return;
      }
      await releases.create(release, created, promotes);
      coordinator.poke(release.id);
      res.status(202).location(`/releases/${release.id}`).json({ id: release.id, state: release.state });
    },
    async previewRelease(req, res) {
      const { confirm: _ignored, ...request } = req.body;
      res.json((await validateRelease(options, request, principalOf(req).subject)).preview);
    },
    async listReleases(req, res) {
      res.json({ items: await releases.list(typedQuery(req).limit ?? 20) });
    },
    async getRelease(req, res) {
      res.json(await mustGet(req.params.id));
    },
    async followRelease(req, res) {
      const r = await mustGet(req.params.id);
      const connection = options.followConnection(principalOf(req).subject);
      await followEvents(req, res, { id: r.id, store: releases, connection, isFinished: isReleaseFinished });
    },
    pauseRelease: (req, res) => control(req, res, 'pause'),
    resumeRelease: (req, res) => control(req, res, 'resume'),
    cancelRelease: (req, res) => control(req, res, 'cancel'),
    async getSync(req, res) {
      const { service } = typedQuery(req);
      const sets = await syncReport(options, { withRegions: true, ...(service ? { service } : {}) });
      res.json({ inSync: sets.every((s) => s.inSync), items: sets });
    },
  } satisfies Partial<TypedOperations<operations>>;
}
