/**
 * The orchestrator API: each operation of @slipway/orchestrator-api's OpenAPI document, by its
 * operationId. The commands themselves (submit, pause, resume, cancel, roll back, undo) are
 * commands.ts's; a handler reads the request, calls one, and answers.
 */
import type { TargetHealth } from '@slipway/cloud';
import {
  InputError,
  NotFoundError,
  principalOf,
  typedQuery,
  type TypedOperations,
  type TypedRequest,
  type TypedResponse,
} from '@slipway/core';
import { type StreamConnection } from '@slipway/core/redis';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import { mapAtMost } from './at-most.js';
import { followEvents } from './follow.js';
import {
  changeWith,
  commandDeployment,
  mustGet,
  planDeployment,
  planUndo,
  refuseBranchChosen,
  type CommandOptions,
} from './deployments/commands.js';
import { isFinished, refuseAdminOnlyParams } from './deployments/deployment.js';
import type { LastDeployment } from './deployments/store.js';
import { cloudOf } from './actions/regions.js';
import {
  clusterNow,
  clustersNow,
  groupStanding,
  needsMaker,
  noHistory,
  standingOf,
  withHistory,
  type ClusterGroups,
  type ClusterNow,
} from './clusters/serving.js';
import { resolveName } from './clusters/targets.js';
import { attentionFirst, attentionOf, deployingOf, healthSummary } from './clusters/attention.js';

/**
 * A few services' clusters described at once for GET /clusters?service= (each asks its cloud); more
 * than this are read from one listing of each cloud instead.
 */
const DESCRIBED_AT_ONCE = 16;

export interface OperationsOptions extends CommandOptions {
  /** A follower of a Redis stream for `subject` (core's stream hub: one shared connection, capped). */
  followConnection: (subject: string) => StreamConnection;
}

function withoutName<T extends { name: string }>(lock: T): Omit<T, 'name'> {
  const { name: _name, ...rest } = lock;
  return rest;
}

/** The deployment operations, typed from the document (app.ts checks that every operation has one). */
export function createOperations(options: OperationsOptions) {
  const { store, runner } = options;

  type Control = operations['pauseDeployment'];
  async function control(
    req: TypedRequest<Control>,
    res: TypedResponse<Control>,
    kind: 'pause' | 'resume' | 'cancel' | 'rollback',
  ) {
    const { subject: by, via } = principalOf(req);
    res.status(202).json(await commandDeployment(options, req.params.id, kind, via ? { by, via } : { by }));
  }

  return {
    async createDeployment(req, res) {
      const { subject, via } = principalOf(req);
      refuseAdminOnlyParams(req.body.params, principalOf(req));
      const { confirm, ...request } = req.body;
      const { prepared, preview } = await planDeployment(options, request, subject, via);
      if (request.configRef)
        await refuseBranchChosen(
          options,
          request.service,
          request.env,
          request.configRef,
          prepared.deployment,
          principalOf(req),
        );
      const deployment = await changeWith(options, prepared, preview, { confirm, by: subject });
      res.status(202).location(`/deployments/${deployment.id}`).json({ id: deployment.id, state: deployment.state });
    },
    async previewDeployment(req, res) {
      const { subject, via } = principalOf(req);
      res.json((await planDeployment(options, { ...req.body, message: 'preview' }, subject, via)).preview);
    },
    async resolveName(req, res) {
      const { service, name } = req.params;
      const { target } = await resolveName(options.peers, service, name);
      res.json({
        service,
        name,
        kind: target.kind,
        clusters: target.kind === 'set' ? target.clusters : [name],
      });
    },
    async listDeployments(req, res) {
      const query = typedQuery(req);
      const before = query.cursor === undefined ? undefined : Number(query.cursor);
      if (before !== undefined && !Number.isFinite(before))
        throw new InputError('cursor must be the `next` of an earlier page');
      const page = await store.list({ ...query, limit: query.limit ?? 20, before });
      res.json({ items: page.items, ...(page.next !== undefined ? { next: String(page.next) } : {}) });
    },
    async getDeployment(req, res) {
      const d = await mustGet(store, req.params.id);
      // A pause asked twice is said as such (the CLI reads this before asking again).
      const requested = isFinished(d) ? {} : await store.control(d.id);
      res.json(Object.keys(requested).length > 0 ? { ...d, requested } : d);
    },
    async followDeployment(req, res) {
      const d = await mustGet(store, req.params.id);
      const connection = options.followConnection(principalOf(req).subject);
      await followEvents(req, res, { id: d.id, store, connection, isFinished });
    },
    pauseDeployment: (req, res) => control(req, res, 'pause'),
    resumeDeployment: (req, res) => control(req, res, 'resume'),
    cancelDeployment: (req, res) => control(req, res, 'cancel'),
    rollbackDeployment: (req, res) => control(req, res, 'rollback'),
    async undo(req, res) {
      const { service, env } = req.params;
      const { subject, via } = principalOf(req);
      const { message, deployment: named, confirm } = req.body;
      const { prepared, preview } = await planUndo(options, service, env, { message, named, by: subject, via });
      const deployment = await changeWith(options, prepared, preview, { confirm, by: subject });
      res.status(202).location(`/deployments/${deployment.id}`).json({ id: deployment.id, state: deployment.state });
    },
    async previewUndo(req, res) {
      const { service, env } = req.params;
      const { subject, via } = principalOf(req);
      res.json(
        (await planUndo(options, service, env, { message: 'preview', named: req.body.deployment, by: subject, via }))
          .preview,
      );
    },
    async getClusterLock(req, res) {
      const { service, env } = req.params;
      const lock = await store.lock(service, env);
      res.json({ lock: lock ? withoutName(lock) : null, broken: await store.lockBreaks(service, env) });
    },
    async breakClusterLock(req, res) {
      const { service, env } = req.params;
      const { reason } = typedQuery(req);
      const broken = await runner.breakLock(service, env, principalOf(req).subject, reason);
      if (!broken) throw new NotFoundError(`${service} ${env} is not locked`);
      res.json(broken);
    },
    async getEnvironment(req, res) {
      const { service, env } = req.params;
      res.json(await describeEnvironment(service, env, true));
    },
    async listClusters(req, res) {
      const { service: named, order, limit, offset = 0, attention = false } = typedQuery(req);
      const only = named && new Set(named);
      const clusters = (await store.clusters()).filter(({ service }) => !only || only.has(service));
      // Every cluster's holder and last deployment in a round trip or two, not reads per cluster.
      const [read, holders, lasts] = await Promise.all([
        only && clusters.length <= DESCRIBED_AT_ONCE ? readEach(clusters) : readEvery(clusters),
        store.holders(clusters),
        store.lastDeployments(clusters),
      ]);
      const rows = read.map((cluster, i) => {
        const facts = { holder: holders[i], last: lasts[i] };
        return {
          cluster,
          facts,
          needsAttention: attentionOf(cluster.now, cluster.health, facts.holder, facts.last?.state),
        };
      });
      // Only what is answered is described in full: the order and the counts need the facts alone.
      const ordered = order === 'attention' ? attentionFirst(rows) : rows;
      const asked = attention ? ordered.filter((r) => r.needsAttention) : ordered;
      const shown = asked.slice(offset, limit === undefined ? undefined : offset + limit);
      const items = await Promise.all(
        shown.map(async ({ cluster: { service, env, now, health }, facts }) =>
          describeCluster(
            service,
            env,
            'history' in now ? now : now.groups.length ? await withHistory(options, service, env, now) : noHistory(now),
            health,
            false,
            facts,
          ),
        ),
      );
      res.json({ items, total: rows.length, needingAttention: rows.filter((r) => r.needsAttention).length });
    },
    async listEnvironments(_req, res) {
      res.json({ items: [...new Set((await store.clusters()).map(({ env }) => env))].sort() });
    },
  } satisfies Partial<TypedOperations<operations>>;

  interface ClusterRead {
    service: string;
    env: string;
    /** Read whole (one service's), or its groups alone (every cluster's: withHistory for those described). */
    now: ClusterNow | ClusterGroups;
    /** Of the target group in service. */
    health: TargetHealth[];
  }

  async function readOne(service: string, env: string): Promise<ClusterRead & { now: ClusterNow }> {
    const now = await clusterNow(options, service, env);
    const tg = now.active?.targetGroups[0];
    const health = tg ? await cloudOf(options, now.region).describeTargetHealth(tg) : [];
    return { service, env, now, health };
  }

  /** One service's few clusters: each asked of its cloud, not the whole cloud listed. */
  function readEach(clusters: { service: string; env: string }[]): Promise<ClusterRead[]> {
    return mapAtMost(clusters, DESCRIBED_AT_ONCE, ({ service, env }) => readOne(service, env));
  }

  /** Every cluster from one listing of each cloud. */
  async function readEvery(clusters: { service: string; env: string }[]): Promise<ClusterRead[]> {
    const { clusters: read, targetHealth } = await clustersNow(options, clusters);
    return read.map(({ service, env, now }) => {
      const tg = now.active?.targetGroups[0];
      return { service, env, now, health: tg ? targetHealth(now, tg) : [] };
    });
  }

  async function describeEnvironment(service: string, env: string, withDeployments: boolean) {
    const { now, health } = await readOne(service, env);
    return describeCluster(service, env, now, health, withDeployments);
  }

  interface ClusterFacts {
    holder: string | undefined;
    last: LastDeployment | undefined;
  }

  /** A deployment as a list of clusters shows it. */
  function outcomeOf(d: LastDeployment) {
    return {
      id: d.id,
      state: d.state,
      by: d.by,
      createdAt: d.createdAt,
      ...(d.finishedAt ? { finishedAt: d.finishedAt } : {}),
      ...(d.undoOf ? { undoOf: d.undoOf } : {}),
    };
  }

  async function describeCluster(
    service: string,
    env: string,
    now: ClusterNow,
    health: TargetHealth[],
    withDeployments: boolean,
    known?: ClusterFacts,
  ) {
    const { groups, history, active } = now;
    // A list of thousands of clusters describes most without a promise each: nothing to read for them.
    const standing = new Map(
      groups.some((g) => needsMaker(now, g))
        ? await Promise.all(groups.map(async (g) => [g.name, await groupStanding(store, now, g)] as const))
        : groups.map((g) => [g.name, standingOf(now, g)] as const),
    );
    const describe = (g: (typeof groups)[number]) => {
      const served = history.find((r) => r.group === g.name);
      const image = g.tags?.image ?? served?.image;
      return {
        ...standing.get(g.name)!,
        name: g.name,
        disabled: g.disabled,
        capacity: { min: g.min, desired: g.desired, max: g.max },
        image,
        ...(served?.version && served.image === image ? { version: served.version } : {}),
        commit: g.tags?.commit ?? served?.commit,
        // The deployment whose image and config it serves (an undo re-enabling it), else the one that made it.
        deployment: served?.deployment ?? g.tags?.deployment,
        instances: g.instances.map((i) => ({
          id: i.id,
          lifecycle: i.lifecycle,
          ...(i.address ? { address: i.address } : {}),
          health: health.find((t) => t.instanceId === i.id)?.state ?? (g.disabled ? 'out of service' : 'unknown'),
        })),
      };
    };
    const [holder, deployments] =
      known && !withDeployments
        ? [known.holder, undefined]
        : await Promise.all([
            known ? known.holder : store.holder(service, env),
            withDeployments ? store.list({ service, env, limit: 10 }).then((page) => page.items) : undefined,
          ]);
    const last = known ? known.last : deployments?.[0];
    const deploying = deployingOf(holder);
    return {
      service,
      env,
      active: active ? describe(active) : null,
      retained: groups.filter((g) => g !== active).map(describe),
      health: healthSummary(now, health),
      ...(deploying ? { deploying } : {}),
      ...(last ? { lastDeployment: outcomeOf(last) } : {}),
      needsAttention: attentionOf(now, health, holder, last?.state),
      ...(deployments ? { deployments } : {}),
    };
  }
}
