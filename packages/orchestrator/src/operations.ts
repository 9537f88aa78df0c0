/** The orchestrator API: each operation of @slipway/orchestrator-api's OpenAPI document, by its operationId. */
import { randomBytes } from 'node:crypto';
import { checkUserData, type CloudProvider, type CloudRegions, type TargetHealth } from '@slipway/cloud';
import {
  ConflictError,
  InputError,
  NotFoundError,
  principalOf,
  roleAllows,
  sendEventStream,
  typedQuery,
  UnprocessableError,
  type BodyOf,
  type Principal,
  type TypedOperations,
  type TypedRequest,
  type TypedResponse,
  type StreamConnection,
} from '@slipway/core';
import { STRATEGIES } from './actions.js';
import { mapAtMost } from './at-most.js';
import {
  isFinished,
  refuseAdminOnlyParams,
  refuseBranchChosenParams,
  resolveParams,
  type Deployment,
} from './deployment.js';
import type { ImageRecord, Peers, ServiceRecord } from './peers.js';
import { HISTORY_READ, changeOf, enforcePolicy, previewOf, type ChangeAction, type Preview } from './preview.js';
import type { Runner } from './runner.js';
import { cloudOf, machineImageIn } from './regions.js';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import { clusterNow, clustersNow, groupStanding, servingOf, type ClusterNow } from './serving.js';
import { scalingDown, type DeploymentStore } from './store.js';
import { sourceOfImage } from './source.js';
import { notOneCluster, resolveName } from './targets.js';
import { undoTarget } from './undo.js';

/** One service's clusters described at once for GET /clusters?service= (each asks its cloud). */
const DESCRIBED_AT_ONCE = 16;

export interface OperationsOptions {
  store: DeploymentStore;
  runner: Runner;
  peers: Peers;
  cloud: CloudProvider;
  /** One provider per region (AWS); absent, `cloud` serves every region. */
  regions?: CloudRegions;
  releaseConcurrency: number;
  /** A connection of its own for each events follower (it blocks). */
  /** A follower of a Redis stream for `subject` (core's stream hub: one shared connection, capped). */
  followConnection: (subject: string) => StreamConnection;
}

/** POST /deployments' body, as the document gives it. */
export type DeploymentRequest = BodyOf<operations['createDeployment']>;

function withoutName<T extends { name: string }>(lock: T): Omit<T, 'name'> {
  const { name: _name, ...rest } = lock;
  return rest;
}

export function newDeploymentId(): string {
  return `dep-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** The deployment operations, typed from the document (app.ts checks that every operation has one). */
export function createOperations(options: OperationsOptions) {
  const { store, runner } = options;

  async function mustGet(id: string): Promise<Deployment> {
    const deployment = await store.get(id);
    if (!deployment) throw new NotFoundError(`no deployment ${id}`);
    return deployment;
  }

  type Control = operations['pauseDeployment'];
  async function control(
    req: TypedRequest<Control>,
    res: TypedResponse<Control>,
    kind: 'pause' | 'resume' | 'cancel' | 'rollback',
  ) {
    const d = await mustGet(req.params.id);
    const { subject: by, via } = principalOf(req);
    const who = via ? { by, via } : { by };
    const finished = (state: string) =>
      new ConflictError(
        `deployment ${d.id} is ${state}${kind === 'rollback' ? ': undo makes a new deployment of the previous version' : ''}`,
      );
    if (isFinished(d)) throw finished(d.state);
    if (kind === 'resume') {
      if (d.state !== 'paused' || !(await runner.resume(d.id)))
        throw new ConflictError(`deployment ${d.id} is ${d.state}, not paused`);
    } else {
      // Saved beside the record, decided against it as it is now (a worker may be committing a pause).
      const answer = await runner.control(d.id, kind, by, who);
      if (answer.outcome === 'finished') throw finished(answer.state);
      if (answer.outcome === 'refused')
        throw new ConflictError(`deployment ${d.id}: ${kind} refused: ${answer.reason}`);
      if (answer.outcome === 'missing') throw new NotFoundError(`no deployment ${d.id}`);
    }
    res.status(202).json(await mustGet(d.id));
  }

  /** A config ref's admin-only parameters, against the default branch's (a deployer's branch may not choose them). */
  async function refuseBranchChosen(service: string, env: string, ref: string, d: Deployment, principal: Principal) {
    if (roleAllows(principal.role, 'admin')) return;
    // At the commit the deployment pinned: a branch moved since is not what would be deployed.
    const branch = await options.peers.config(service, env, d.context.commit ?? ref);
    const main = await options.peers.config(service, env).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    refuseBranchChosenParams(ref, branch.deploymentParams ?? {}, main?.deploymentParams ?? {}, principal);
  }

  /** A deployment to one cluster (a sync set's name is a release), checked, with what it would change. */
  async function planDeployment(request: DeploymentRequest, by: string, via?: string) {
    const { target, service } = await resolveName(options.peers, request.service, request.env);
    if (target.kind === 'set') throw notOneCluster(request.service, target);
    const prepared = await prepareDeployment(options, request, by, via ? { via } : {}, service);
    return { prepared, preview: await previewPrepared(options, 'deploy', prepared) };
  }

  /**
   * What undo goes back to, decided here once for the preview and the undo alike: the release
   * before what serves now. Named (a button, a preview), the deployment undone must be what serves.
   */
  async function planUndo(
    service: string,
    env: string,
    asked: { message: string; named?: string | undefined; by: string; via?: string | undefined },
  ) {
    const { target: name, service: record } = await resolveName(options.peers, service, env);
    if (name.kind === 'set') throw notOneCluster(service, name);
    const now = await clusterNow(options, service, env);
    const serving = servingOf(now);
    if (asked.named && serving?.deployment !== asked.named)
      throw new ConflictError(
        `${asked.named} no longer serves ${service} ${env}: ${serving ? `${serving.deployment ?? serving.group} does now (${serving.image ?? 'an unknown image'})` : 'nothing does'}; an undo goes back from what serves (slipway undo ${service} ${env})`,
      );
    const target = undoTarget(now.releases, serving && { name: serving.group, deployment: serving.deployment });
    if (!target) throw new ConflictError(`${service} ${env} has no earlier release to go back to`);
    const { current, previous } = target;
    const prepared = await prepareDeployment(
      options,
      {
        service,
        env,
        image: previous.image,
        configRef: previous.commit,
        message: asked.message,
        strategy: 'red-black',
      },
      asked.by,
      {
        ...(current.deployment ? { undoOf: current.deployment } : {}),
        context: { group: previous.group },
        ...(asked.via ? { via: asked.via } : {}),
      },
      record,
    );
    return { prepared, preview: await previewPrepared(options, 'undo', prepared, now) };
  }

  return {
    async createDeployment(req, res) {
      const { subject, via } = principalOf(req);
      refuseAdminOnlyParams(req.body.params, principalOf(req));
      const { confirm, ...request } = req.body;
      const { prepared, preview } = await planDeployment(request, subject, via);
      if (request.configRef)
        await refuseBranchChosen(
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
      res.json((await planDeployment({ ...req.body, message: 'preview' }, subject, via)).preview);
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
      const d = await mustGet(req.params.id);
      // A pause asked twice is said as such (the CLI reads this before asking again).
      const requested = isFinished(d) ? {} : await store.control(d.id);
      res.json(Object.keys(requested).length > 0 ? { ...d, requested } : d);
    },
    async followDeployment(req, res) {
      const d = await mustGet(req.params.id);
      const connection = options.followConnection(principalOf(req).subject);
      const entries = (list: { id: string; event: { type: string } }[]) =>
        list.map(({ id, event }) => ({ id, event: event.type, data: JSON.stringify(event) }));
      await sendEventStream(req, res, {
        read: async (after) => entries(await store.events(d.id, after === '0-0' ? undefined : after)),
        follow: async (after, ms) => entries(await store.follow(connection, d.id, after, ms)),
        async finished() {
          const current = await store.get(d.id);
          return !current || isFinished(current)
            ? { state: current?.state, reason: current?.reason ?? null }
            : undefined;
        },
        close: () => connection.disconnect(),
      });
    },
    pauseDeployment: (req, res) => control(req, res, 'pause'),
    resumeDeployment: (req, res) => control(req, res, 'resume'),
    cancelDeployment: (req, res) => control(req, res, 'cancel'),
    rollbackDeployment: (req, res) => control(req, res, 'rollback'),
    async undo(req, res) {
      const { service, env } = req.params;
      const { subject, via } = principalOf(req);
      const { message, deployment: named, confirm } = req.body;
      const { prepared, preview } = await planUndo(service, env, { message, named, by: subject, via });
      const deployment = await changeWith(options, prepared, preview, { confirm, by: subject });
      res.status(202).location(`/deployments/${deployment.id}`).json({ id: deployment.id, state: deployment.state });
    },
    async previewUndo(req, res) {
      const { service, env } = req.params;
      const { subject, via } = principalOf(req);
      res.json(
        (await planUndo(service, env, { message: 'preview', named: req.body.deployment, by: subject, via })).preview,
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
      const { service: only } = typedQuery(req);
      const clusters = (await store.clusters()).filter(({ service }) => only === undefined || service === only);
      if (only !== undefined) {
        // One service's few clusters: each asked of its cloud, not the whole cloud listed.
        const items = await mapAtMost(clusters, DESCRIBED_AT_ONCE, ({ service, env }) =>
          describeEnvironment(service, env, false),
        );
        res.json({ items });
        return;
      }
      // Every cluster's holder in one round trip, not a read per cluster.
      const [{ clusters: read, targetHealth }, holders] = await Promise.all([
        clustersNow(options, clusters),
        store.holders(clusters),
      ]);
      const items = await Promise.all(
        read.map(({ service, env, now }, i) => {
          const tg = now.active?.targetGroups[0];
          return describeCluster(service, env, now, tg ? targetHealth(now, tg) : [], false, { holder: holders[i] });
        }),
      );
      res.json({ items });
    },
  } satisfies Partial<TypedOperations<operations>>;

  async function describeEnvironment(service: string, env: string, withDeployments: boolean) {
    const now = await clusterNow(options, service, env);
    const tg = now.active?.targetGroups[0];
    const health = tg ? await cloudOf(options, now.region).describeTargetHealth(tg) : [];
    return describeCluster(service, env, now, health, withDeployments);
  }

  async function describeCluster(
    service: string,
    env: string,
    now: ClusterNow,
    health: TargetHealth[],
    withDeployments: boolean,
    known?: { holder: string | undefined },
  ) {
    const { groups, releases, active } = now;
    const standing = new Map(
      await Promise.all(groups.map(async (g) => [g.name, await groupStanding(store, now, g)] as const)),
    );
    const describe = (g: (typeof groups)[number]) => {
      const release = releases.find((r) => r.group === g.name);
      return {
        ...standing.get(g.name)!,
        name: g.name,
        disabled: g.disabled,
        capacity: { min: g.min, desired: g.desired, max: g.max },
        image: g.tags?.image ?? release?.image,
        commit: g.tags?.commit ?? release?.commit,
        // The deployment whose release it serves (an undo re-enabling it), else the one that made it.
        deployment: release?.deployment ?? g.tags?.deployment,
        instances: g.instances.map((i) => ({
          id: i.id,
          lifecycle: i.lifecycle,
          ...(i.address ? { address: i.address } : {}),
          health: health.find((t) => t.instanceId === i.id)?.state ?? (g.disabled ? 'out of service' : 'unknown'),
        })),
      };
    };
    const summary = active
      ? {
          healthy: health.filter((t) => active.instances.some((i) => i.id === t.instanceId) && t.state === 'healthy')
            .length,
          instances: active.instances.length,
        }
      : { healthy: 0, instances: 0 };
    const holder = known ? known.holder : await store.holder(service, env);
    return {
      service,
      env,
      active: active ? describe(active) : null,
      retained: groups.filter((g) => g !== active).map(describe),
      health: summary,
      ...(holder && !scalingDown(holder) ? { deploying: holder } : {}),
      ...(withDeployments ? { deployments: (await store.list({ service, env, limit: 10 })).items } : {}),
    };
  }
}

type SubmitOptions = Pick<OperationsOptions, 'store' | 'runner' | 'peers' | 'cloud' | 'regions' | 'releaseConcurrency'>;

/** A deployment checked and made, not yet admitted: what it would deploy, the image, the service's metadata. */
export interface Prepared {
  deployment: Deployment;
  image: ImageRecord;
  properties: Record<string, unknown>;
}

/** Everything checked before anything is queued, each failure a 4xx naming what is wrong. */
export async function prepareDeployment(
  options: SubmitOptions,
  request: DeploymentRequest,
  by: string,
  extra: Partial<Deployment> = {},
  /** The service's record, when the caller read it already (resolving the name). */
  known?: ServiceRecord,
): Promise<Prepared> {
  const { peers } = options;
  const { service, env } = request;
  const record = known ?? (await peers.service(service));
  if (!record) {
    throw new UnprocessableError(
      `service ${service} is not registered: add it with PUT /services/${service} in metadata`,
    );
  }
  const image = await peers.image(request.image);
  if (!image) throw new UnprocessableError(`no image ${request.image}: bake one first`);
  if (image.kind !== 'service' || image.service !== service) {
    throw new UnprocessableError(
      `image ${request.image} is ${image.kind === 'base' ? 'a base image' : `an image of ${image.service}`}, not of ${service}`,
    );
  }
  let config;
  try {
    config = await peers.config(service, env, request.configRef);
  } catch (error) {
    if (error instanceof NotFoundError) throw new UnprocessableError(`configuration: ${error.message}`);
    throw error;
  }
  if (!config.valid || !config.deploymentParams) {
    throw new UnprocessableError(
      `configuration ${config.commit.slice(0, 12)} of ${service}-${env} is not valid: ${config.errors.map((e) => `${e.file ?? ''} ${e.path} ${e.message}`.trim()).join('; ')}`,
      { errors: config.errors.map((e) => ({ path: `${e.file ?? ''}${e.path}`, message: e.message })) },
    );
  }
  const params = resolveParams(config.deploymentParams, request.params ?? {}, request.strategy);
  if (params.region !== config.deploymentParams.region)
    throw new UnprocessableError(
      `region is the cluster's (${config.deploymentParams.region ?? 'the default'}, in deployment-params.json): a deployment cannot move it`,
    );
  const cloud = cloudOf(options, params.region);
  const machineImage = await machineImageIn(options, image, params.region);
  // EC2's 16 KB user-data limit, refused now rather than when the launch template is made.
  checkUserData(`${service}-${env}`, {
    files: { 'application.properties': config.properties },
    commands: config.launchData ?? [],
  });
  if (!(await cloud.getLoadBalancer(params.loadBalancer.name))) {
    throw new UnprocessableError(
      `load balancer ${params.loadBalancer.name} (deployment-params.json) does not exist: plan and apply its infra stack first`,
    );
  }
  const strategy = params.strategy.name;
  const deployment: Deployment = {
    id: newDeploymentId(),
    service,
    env,
    image: request.image,
    ...(request.configRef ? { configRef: request.configRef } : {}),
    message: request.message,
    strategy,
    params: request.params ?? {},
    by,
    queue: request.queue ?? false,
    state: 'queued',
    createdAt: new Date().toISOString(),
    actions: STRATEGIES[strategy].map((a) => ({ name: a.name, state: 'pending', attempts: 0 })),
    current: 0,
    run: 1,
    ...extra,
    // What was read and validated here is kept: the run does not read the same commit again.
    context: {
      commit: config.commit,
      imageVersion: image.version,
      ...(await sourceOfImage(peers, image)),
      imageCheckedAt: Date.now(),
      params,
      targetGroup: params.loadBalancer.name,
      ...(machineImage !== image.id ? { machineImage } : {}),
      userData: { files: { 'application.properties': config.properties }, commands: config.launchData ?? [] },
      ...extra.context,
    },
  };
  return { deployment, image, properties: record.properties };
}

/** The record is saved with the lock and the slot, in one step: nothing is held for a record that is not there. */
export async function admitDeployment(options: SubmitOptions, deployment: Deployment): Promise<Deployment> {
  const admission = await options.store.admit(deployment, options.releaseConcurrency);
  if (admission.outcome === 'conflict') {
    const group = scalingDown(admission.holder);
    if (group)
      throw new ConflictError(
        `${deployment.service} ${deployment.env}: retained group ${group} is being scaled down; try again in a few seconds`,
      );
    throw new ConflictError(
      `${deployment.service} ${deployment.env} is being deployed by ${admission.holder}: wait for it, or ask with "queue": true`,
      {
        code: 'cluster-busy',
        args: { service: deployment.service, env: deployment.env, deployment: admission.holder },
      },
    );
  }
  // A fixed id (a release's cluster) submitted again: the one admitted first stands.
  if (admission.outcome === 'exists') return (await options.store.get(deployment.id)) ?? deployment;
  if (admission.outcome === 'run') await options.runner.start(deployment);
  return deployment;
}

/** Checked, then admitted: what the release coordinator submits (its release was confirmed when made). */
export async function submitDeployment(
  options: SubmitOptions,
  request: DeploymentRequest,
  by: string,
  extra: Partial<Deployment> = {},
): Promise<Deployment> {
  return admitDeployment(options, (await prepareDeployment(options, request, by, extra)).deployment);
}

/** What a prepared deployment would change, for its cluster as it is now. */
export async function previewPrepared(
  options: SubmitOptions,
  action: ChangeAction,
  { deployment: d, image, properties }: Prepared,
  now?: ClusterNow,
): Promise<Preview> {
  const history = await options.store.list({ service: d.service, limit: HISTORY_READ });
  const change = await changeOf(
    options,
    {
      service: d.service,
      env: d.env,
      image,
      commit: d.context.commit!,
      instances: d.context.params!.capacity.desired,
      ...(d.context.params?.region ? { region: d.context.params.region } : {}),
      ...(d.context.group ? { group: d.context.group } : {}),
    },
    properties,
    history.items,
    now,
  );
  return previewOf(action, [change], d.undoOf);
}

/**
 * A person's change: the environment's rules checked against the preview (a production change
 * confirmed, naming this very from → to), then admitted; the record says when it is a downgrade.
 */
export async function changeWith(
  options: SubmitOptions,
  prepared: Prepared,
  preview: Preview,
  request: { confirm?: string | undefined; by: string },
): Promise<Deployment> {
  enforcePolicy(preview, request);
  const [change] = preview.clusters;
  if (change?.downgrade && change.from?.version) prepared.deployment.context.downgradeFrom = change.from.version;
  if (request.confirm !== undefined && change)
    prepared.deployment.context.confirmed = {
      from: change.from?.group ?? null,
      image: change.from?.image ?? null,
      commit: change.from?.commit ?? null,
      // The group too: a redeploy of the same image changes what serves while the images read alike.
      said: `${change.from?.image ?? 'nothing'}${change.from?.group ? ` (${change.from.group})` : ''} → ${change.to.image}`,
    };
  return admitDeployment(options, prepared.deployment);
}
