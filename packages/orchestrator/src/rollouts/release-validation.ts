/**
 * A release is checked whole before anything starts: every service registered, every image of
 * its service, every cluster's configuration valid with its load balancer in place, the
 * dependency order free of cycles. Every problem is named in one 422, each with its path.
 */
import { randomBytes } from 'node:crypto';
import type { CloudProvider, CloudRegions } from '@slipway/cloud';
import { isEnvName, isSlipwayError, UnprocessableError, type BodyOf } from '@slipway/core';
import { syncSets } from '@slipway/metadata-api';
import { resolveParams, type Deployment } from '../deployments/deployment.js';
import type { ImageFinder, ImageRecord, Peers } from '../peers.js';
import {
  HISTORY_READ,
  changeOf,
  previewOf,
  skipReason,
  type ClusterChange,
  type Preview,
} from '../deployments/preview.js';
import { cloudOf, machineImageIn, regionalProblem } from '../actions/regions.js';
import {
  planServiceWaves,
  planWaves,
  releaseDependencies,
  type PlannedCluster,
  type ReleaseItem,
  type ReleaseRecord,
} from './release.js';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import type { DeploymentStore } from '../deployments/store.js';
import { resolveName } from '../clusters/targets.js';

/** POST /releases' body, as the document gives it. */
export type ReleaseRequest = BodyOf<operations['createRelease']>;

export interface ValidationDeps {
  peers: Peers;
  images: ImageFinder;
  cloud: CloudProvider;
  regions?: CloudRegions;
  store: DeploymentStore;
}

type Problem = { path: string; message: string };

export function newReleaseId(): string {
  return `rel-${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** The clusters a service's environment stands for: its sync set, or itself. */
export function clustersOf(properties: Record<string, unknown>, env: string): string[] {
  return syncSets(properties).get(env) ?? [env];
}

/** A release checked whole, with what it would change (its preview) and the promotions it claims. */
export interface ValidatedRelease {
  release: ReleaseRecord;
  preview: Preview;
  /** `<service>:<env>` of each promotion: the newest promotion to a target supersedes a waiting one. */
  promotes: string[];
}

/** The key a promotion to a service's environment claims (one pending promotion per target). */
export const promoteClaim = (service: string, env: string) => `${service}:${env}`;

export async function validateRelease(
  deps: ValidationDeps,
  request: ReleaseRequest,
  by: string,
): Promise<ValidatedRelease> {
  const problems: Problem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  const services: { service: string; dependsOn: unknown }[] = [];
  const perService: { service: string; waves: PlannedCluster[][] }[] = [];
  const items: ReleaseItem[] = [];
  const planned: { cluster: PlannedCluster; image: ImageRecord; instances: number; promotion: boolean }[] = [];
  const properties = new Map<string, Record<string, unknown>>();
  let notBefore = 0;

  const seen = new Set<string>();
  for (const [i, item] of request.items.entries()) {
    const path = `/items/${i}`;
    const { service } = item;
    if (seen.has(service)) {
      problem(`${path}/service`, `${service} is in the release twice`);
      continue;
    }
    seen.add(service);
    const env = item.env ?? request.env;
    const record = await deps.peers.service(service);
    if (!record) {
      problem(`${path}/service`, `service ${service} is not registered`);
      continue;
    }
    properties.set(service, record.properties);
    services.push({ service, dependsOn: record.properties.dependsOn });
    if (!env) {
      problem(`${path}/env`, `no environment for ${service}: name one (env) for the item or the release`);
      continue;
    }
    // The one resolver: a set named like an environment is refused naming both.
    const resolved = await resolveName(deps.peers, service, env).catch((error: unknown) => {
      if (error instanceof UnprocessableError) problem(`${path}/env`, error.message);
      else throw error;
      return undefined;
    });
    if (!resolved) continue;
    const members = resolved.target.kind === 'set' ? resolved.target.clusters : [env];
    const clusters = item.envs ?? members;
    for (const c of clusters.filter((c) => !members.includes(c))) {
      problem(`${path}/envs`, `${c} is not a cluster of ${service} ${env} (${members.join(', ')})`);
    }
    for (const c of clusters.filter((c) => !isEnvName(c))) problem(`${path}/envs`, `${c} is not an environment name`);
    if (clusters.length === 0) problem(`${path}/envs`, `no cluster of ${service} ${env} to release to`);

    let image: string | undefined;
    let imageRecord: ImageRecord | undefined;
    let version: string | undefined;
    let promotedFrom: ReleaseItem['promotedFrom'];
    if (item.from && syncSets(record.properties).has(item.from)) {
      problem(`${path}/from`, `${item.from} is a sync set of ${service}: promote from one of its clusters`);
    } else if (item.from) {
      const [serving] = await deps.store.history(service, item.from, 1);
      if (!serving) {
        problem(`${path}/from`, `${service} has never been deployed to ${item.from}: nothing to promote`);
      } else {
        image = serving.image;
        promotedFrom = { env: item.from, deployment: serving.deployment, since: serving.at };
        notBefore = Math.max(notBefore, Date.parse(serving.at) + (item.afterSeconds ?? 0) * 1000);
      }
    } else if (item.image) {
      image = item.image;
    } else if (item.version) {
      image = (await deps.images.imageOf(service, item.version))?.id;
      if (!image) problem(`${path}/version`, `no image of ${service} ${item.version}: bake it first`);
    } else {
      problem(path, `${service}: name an image, a version or (to promote) from`);
    }
    if (image) {
      const found = await deps.peers.image(image);
      if (!found) problem(`${path}/image`, `no image ${image}: bake one first`);
      else if (found.kind !== 'service' || found.service !== service) {
        problem(`${path}/image`, `image ${image} is not an image of ${service}`);
      } else {
        version = found.version;
        imageRecord = found;
      }
    }

    const mine: PlannedCluster[] = [];
    for (const env of clusters.filter(isEnvName)) {
      const cluster = await checkCluster(deps, request, service, env, imageRecord, `${path}/envs/${env}`, problem);
      if (cluster && image && imageRecord) {
        const { instances, ...rest } = cluster;
        const plannedCluster = { ...rest, service, env, image, ...(version ? { version } : {}) };
        mine.push(plannedCluster);
        planned.push({ cluster: plannedCluster, image: imageRecord, instances, promotion: !!promotedFrom });
      }
    }
    const order = planServiceWaves(
      mine.map((c) => c.env),
      record.properties.waves,
    );
    perService.push({ service, waves: order.map((wave) => wave.map((env) => mine.find((c) => c.env === env)!)) });
    items.push({
      service,
      image: image ?? '',
      ...(version ? { version } : {}),
      env,
      clusters,
      leftOut: members.filter((m) => !clusters.includes(m)),
      ...(promotedFrom ? { promotedFrom } : {}),
    });
  }

  let dependencies = new Map<string, string[]>();
  try {
    dependencies = releaseDependencies(services);
  } catch (error) {
    if (!(error instanceof UnprocessableError)) throw error;
    problem('/items', error.message);
  }
  if (problems.length > 0) {
    throw new UnprocessableError(`the release cannot start: ${problems.map((p) => p.message).join('; ')}`, {
      errors: problems,
    });
  }
  const now = new Date();
  const history = new Map<string, Deployment[]>();
  const changes: ClusterChange[] = [];
  for (const { cluster, image, instances, promotion } of planned) {
    if (!history.has(cluster.service))
      history.set(cluster.service, (await deps.store.list({ service: cluster.service, limit: HISTORY_READ })).items);
    const change = await changeOf(
      deps,
      {
        service: cluster.service,
        env: cluster.env,
        image,
        commit: cluster.commit,
        instances,
        ...(cluster.region ? { region: cluster.region } : {}),
      },
      properties.get(cluster.service) ?? {},
      history.get(cluster.service)!,
    );
    const skip = skipReason(change, { promotion, allowDowngrade: request.allowDowngrade, force: request.force });
    changes.push(skip ? { ...change, skip } : change);
    // What this change is confirmed against (enforcePolicy): when it starts, it starts only from that.
    if (!skip && change.policy.requireConfirmation)
      cluster.confirmedFrom = {
        group: change.from?.group ?? null,
        image: change.from?.image ?? null,
        commit: change.from?.commit ?? null,
      };
  }
  const promotes = items.filter((i) => i.promotedFrom).map((i) => promoteClaim(i.service, i.env));
  const release: ReleaseRecord = {
    id: newReleaseId(),
    message: request.message,
    by,
    onFailure: request.onFailure ?? 'stop',
    state: notBefore > now.getTime() ? 'waiting' : 'running',
    createdAt: now.toISOString(),
    ...(notBefore > now.getTime() ? { notBefore: new Date(notBefore).toISOString() } : {}),
    items,
    waves: planWaves(perService, dependencies, request.bakeSeconds),
    ...(request.params ? { params: request.params } : {}),
    ...(request.force ? { force: true } : {}),
    ...(request.allowDowngrade ? { allowDowngrade: true } : {}),
    revision: 0,
  };
  return { release, preview: previewOf(promotes.length ? 'promote' : 'release', changes), promotes };
}

/** One cluster's configuration: valid, its parameters valid with the overrides, its load balancer there. */
async function checkCluster(
  deps: ValidationDeps,
  request: ReleaseRequest,
  service: string,
  env: string,
  image: ImageRecord | undefined,
  path: string,
  problem: (path: string, message: string) => void,
): Promise<{ commit: string; region?: string; bakeSeconds: number; instances: number } | undefined> {
  let config;
  try {
    config = await deps.peers.config(service, env);
  } catch (error) {
    if (isSlipwayError(error) && error.status < 500) {
      problem(path, `${service}-${env}: ${error.message}`);
      return undefined;
    }
    throw error;
  }
  if (!config.valid || !config.deploymentParams) {
    problem(
      path,
      `configuration ${config.commit.slice(0, 12)} of ${service}-${env} is not valid: ${config.errors.map((e) => `${e.file ?? ''} ${e.path} ${e.message}`.trim()).join('; ')}`,
    );
    return undefined;
  }
  let params;
  try {
    params = resolveParams(config.deploymentParams, request.params ?? {}, undefined);
  } catch (error) {
    problem(path, `${service}-${env}: ${(error as Error).message}`);
    return undefined;
  }
  const { region } = params;
  if (region !== config.deploymentParams.region) {
    problem(path, `${service}-${env}: region is the cluster's (deployment-params.json): a release cannot move it`);
    return undefined;
  }
  let cloud: CloudProvider | undefined;
  const unserved = await regionalProblem(async () => (cloud = cloudOf(deps, region)));
  if (unserved || !cloud) {
    problem(path, `${service}-${env}: ${unserved}`);
    return undefined;
  }
  // AMIs are regional: an image must be in every cluster's region before anything starts.
  const noImage = image && (await regionalProblem(() => machineImageIn(deps, image, region)));
  if (noImage) problem(path, `${service}-${env}: ${noImage}`);
  if (!(await cloud.getLoadBalancer(params.loadBalancer.name))) {
    problem(
      path,
      `${service}-${env}${region ? ` (${region})` : ''}: load balancer ${params.loadBalancer.name} does not exist`,
    );
    return undefined;
  }
  if (noImage) return undefined;
  const extra = params as unknown as { bakeSeconds?: number };
  return {
    commit: config.commit,
    ...(region ? { region } : {}),
    bakeSeconds: extra.bakeSeconds ?? 60,
    instances: params.capacity.desired,
  };
}
