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
import { enforcePolicy } from '../deployments/preview.js';
import { isReleaseFinished, type ReleaseRecord } from './release.js';
import type { ReleaseStore } from './release-store.js';
import { validateRelease, type ValidationDeps } from './release-validation.js';
import type { ReleaseCoordinator } from './releases.js';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import { syncReport } from './sync.js';

export interface ReleaseOperationsOptions extends ValidationDeps {
  releases: ReleaseStore;
  coordinator: ReleaseCoordinator;
  followConnection: (subject: string) => StreamConnection;
}

/** The release and sync operations, typed from the document (app.ts checks that every operation has one). */
export function createReleaseOperations(options: ReleaseOperationsOptions) {
  const { releases, coordinator } = options;

  async function mustGet(id: string): Promise<ReleaseRecord> {
    const release = await releases.get(id);
    if (!release) throw new NotFoundError(`no release ${id}`);
    return release;
  }

  /** Read, change, compare-and-set; a coordinator's write in between means read again. */
  async function change(id: string, apply: (r: ReleaseRecord) => string): Promise<ReleaseRecord> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = await mustGet(id);
      if (isReleaseFinished(r)) throw new ConflictError(`release ${id} is ${r.state}`);
      const type = apply(r);
      if (await releases.save(r, [{ type, state: r.state }])) {
        coordinator.poke(id);
        return r;
      }
    }
    throw new ConflictError(`release ${id} kept changing; try again`);
  }

  type Control = operations['pauseRelease'];
  async function control(req: TypedRequest<Control>, res: TypedResponse<Control>, kind: 'pause' | 'resume' | 'cancel') {
    const by = principalOf(req).subject;
    const release = await change(req.params.id, (r) => {
      if (kind === 'pause') {
        if (r.state !== 'running' && r.state !== 'waiting') throw new ConflictError(`release ${r.id} is ${r.state}`);
        r.state = 'paused';
        return 'paused';
      }
      if (kind === 'resume') {
        if (r.state !== 'paused') throw new ConflictError(`release ${r.id} is ${r.state}, not paused`);
        r.state = 'running';
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
      // A release that would change nothing is refused, as a deploy of what serves is; a promotion
      // is kept, and ends skipped saying why (it may be waiting, and is evaluated when it runs).
      if (preview.action !== 'promote' && preview.clusters.every((c) => c.skip))
        throw new ConflictError(
          `nothing to release: ${preview.clusters.map((c) => `${c.service} ${c.env} ${c.skip}`).join('; ')}; ask with force to deploy it again`,
        );
      await releases.create(
        release,
        {
          type: 'created',
          state: release.state,
          waves: release.waves.map((w) => w.clusters.map((c) => `${c.service} ${c.env}`)),
        },
        promotes,
      );
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
