/**
 * The deployment commands — submit, pause, resume, cancel, roll back, undo — as the domain has
 * them: the HTTP handlers (operations.ts, revert.ts) and the release coordinator (releases.ts)
 * call these, and chat and the CLI reach them through those handlers, so each rule is decided once.
 */
import { randomBytes } from 'node:crypto';
import { checkUserData, type CloudProvider, type CloudRegions } from '@slipway/cloud';
import {
  ConflictError,
  NotFoundError,
  roleAllows,
  UnprocessableError,
  type BodyOf,
  type Principal,
} from '@slipway/core';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import { STRATEGIES } from '../actions/actions.js';
import { isFinished, refuseBranchChosenParams, resolveParams, type Deployment } from './deployment.js';
import type { ImageRecord, Peers, ServiceRecord } from '../peers.js';
import { HISTORY_READ, changeOf, enforcePolicy, previewOf, type ChangeAction, type Preview } from './preview.js';
import { cloudOf, machineImageIn } from '../actions/regions.js';
import type { Runner } from './runner.js';
import { clusterNow, servingOf, type ClusterNow } from '../clusters/serving.js';
import { scalingDown, type DeploymentStore } from './store.js';
import { sourceOfImage } from '../actions/source.js';
import { notOneCluster, resolveName } from '../clusters/targets.js';
import { undoTarget } from './undo.js';

/** What the commands act with: the records, the runner, the peers and the cloud(s). */
export interface CommandOptions {
  store: DeploymentStore;
  runner: Runner;
  peers: Peers;
  cloud: CloudProvider;
  /** One provider per region (AWS); absent, `cloud` serves every region. */
  regions?: CloudRegions;
  /** How many deployments may run at once: admission's slots. */
  slots: number;
}

/** POST /deployments' body, as the document gives it. */
export type DeploymentRequest = BodyOf<operations['createDeployment']>;

export function newDeploymentId(): string {
  return `dep-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

export async function mustGet(store: Pick<DeploymentStore, 'get'>, id: string): Promise<Deployment> {
  const deployment = await store.get(id);
  if (!deployment) throw new NotFoundError(`no deployment ${id}`);
  return deployment;
}

type Confirmed = NonNullable<Deployment['context']['confirmed']>;

/**
 * What a change was confirmed (by a person) or checked (by a release) against: the group, image
 * and config commit that served, and the from → to in words. A person's words name the group
 * too: a redeploy of the same image changes what serves while the images read alike.
 */
export function confirmation(
  from: { group?: string | null; image?: string | null; commit?: string | null } | null | undefined,
  to: string,
  by?: 'release' | 'undo' | 'revert',
): Confirmed {
  const group = by !== 'release' && from?.group ? ` (${from.group})` : '';
  return {
    from: from?.group ?? null,
    image: from?.image ?? null,
    commit: from?.commit ?? null,
    said: `${from?.image ?? 'nothing'}${group} → ${to}`,
    ...(by ? { by } : {}),
  };
}

/** Who asked a command: a person (and the face it came through), or a release on its maker's behalf. */
export interface Asker {
  by: string;
  via?: string;
  release?: string;
}

/**
 * Pause, cancel or roll back (saved beside the record, decided against it as it is now: a
 * worker may be committing a pause), or resume a paused one. Answers the record after it; a
 * finished or refused one is a 409 in words.
 */
export async function commandDeployment(
  options: Pick<CommandOptions, 'store' | 'runner'>,
  id: string,
  kind: 'pause' | 'resume' | 'cancel' | 'rollback',
  who: Asker,
): Promise<Deployment> {
  const { store, runner } = options;
  const d = await mustGet(store, id);
  const finished = (state: string) =>
    new ConflictError(
      `deployment ${d.id} has finished (${state}): nothing to ${kind === 'rollback' ? 'roll back; undo makes a new deployment of the previous version' : kind}`,
    );
  if (isFinished(d)) throw finished(d.state);
  if (kind === 'resume') {
    if (d.state !== 'paused') {
      // A pause asked and not taken yet (the run pauses between actions) is withdrawn, decided
      // against the record as it is: the run goes on, and never pauses for it.
      const withdrawn = await store.withdrawPause(d.id, { type: 'pause-withdrawn', deployment: d.id, ...who });
      if (withdrawn === 'withdrawn') return mustGet(store, d.id);
      if (withdrawn !== 'paused') throw new ConflictError(`deployment ${d.id} is ${d.state}, not paused`);
    }
    if (!(await runner.resume(d.id))) {
      // Another writer moved it on since it was read paused (a second resume, a cancel): said as it is now.
      const now = await mustGet(store, d.id);
      throw isFinished(now) ? finished(now.state) : new ConflictError(`deployment ${d.id} is ${now.state}, not paused`);
    }
  } else {
    const answer = await runner.control(d.id, kind, who.by, { ...who });
    if (answer.outcome === 'finished') throw finished(answer.state);
    if (answer.outcome === 'refused') throw new ConflictError(`deployment ${d.id}: ${kind} refused: ${answer.reason}`);
    if (answer.outcome === 'missing') throw new NotFoundError(`no deployment ${d.id}`);
  }
  return mustGet(store, d.id);
}

/** A release's cancel of one cluster's deployment: nothing when it has finished or a cancel is asked already. */
export async function cancelOnce(options: Pick<CommandOptions, 'store' | 'runner'>, id: string, who: Asker) {
  const d = await options.store.get(id);
  if (!d || isFinished(d) || (await options.store.control(d.id)).cancel) return;
  await options.runner.control(d.id, 'cancel', who.by, { ...who });
}

/** A config ref's admin-only parameters, against the default branch's (a deployer's branch may not choose them). */
export async function refuseBranchChosen(
  options: Pick<CommandOptions, 'peers'>,
  service: string,
  env: string,
  ref: string,
  d: Deployment,
  principal: Principal,
) {
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
export async function planDeployment(options: CommandOptions, request: DeploymentRequest, by: string, via?: string) {
  const { target, service } = await resolveName(options.peers, request.service, request.env);
  if (target.kind === 'set') throw notOneCluster(request.service, target);
  const prepared = await prepareDeployment(options, request, by, via ? { via } : {}, service);
  return { prepared, preview: await previewPrepared(options, 'deploy', prepared) };
}

/**
 * What undo goes back to, decided here once for the preview and the undo alike: the release
 * before what serves now. Named (a button, a preview), the deployment undone must be what serves.
 */
export async function planUndo(
  options: CommandOptions,
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
  const target = undoTarget(now.history, serving && { name: serving.group, deployment: serving.deployment });
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

/** A deployment checked and made, not yet admitted: what it would deploy, the image, the service's metadata. */
export interface Prepared {
  deployment: Deployment;
  image: ImageRecord;
  properties: Record<string, unknown>;
}

/** Everything checked before anything is queued, each failure a 4xx naming what is wrong. */
export async function prepareDeployment(
  options: CommandOptions,
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
      { code: 'service-not-registered', args: { service } },
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
export async function admitDeployment(options: CommandOptions, deployment: Deployment): Promise<Deployment> {
  const admission = await options.store.admit(deployment, options.slots);
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
  options: CommandOptions,
  request: DeploymentRequest,
  by: string,
  extra: Partial<Deployment> = {},
): Promise<Deployment> {
  return admitDeployment(options, (await prepareDeployment(options, request, by, extra)).deployment);
}

/** What a prepared deployment would change, for its cluster as it is now. */
export async function previewPrepared(
  options: CommandOptions,
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
  options: CommandOptions,
  prepared: Prepared,
  preview: Preview,
  request: { confirm?: string | undefined; by: string },
): Promise<Deployment> {
  enforcePolicy(preview, request);
  const [change] = preview.clusters;
  if (change?.downgrade && change.from?.version) prepared.deployment.context.downgradeFrom = change.from.version;
  // An undo or revert goes back from what serves: checked, as a confirmation is, before it
  // touches the cluster (a deploy that finished after this preview is not replaced unseen).
  const fromServing = preview.action === 'undo' || preview.action === 'revert';
  if ((request.confirm !== undefined || fromServing) && change)
    prepared.deployment.context.confirmed = confirmation(
      change.from,
      change.to.image,
      request.confirm === undefined && fromServing ? (preview.action as 'undo' | 'revert') : undefined,
    );
  return admitDeployment(options, prepared.deployment);
}
