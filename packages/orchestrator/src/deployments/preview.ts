/**
 * What a change would do, computed by the orchestrator before it does it — the same answer for the
 * CLI, Slack and the API (the `…/preview` operations): for each cluster what serves now and what would (image,
 * version, config commit, instances), whether that is a downgrade, whether the image failed there
 * or in production before; and the environment's rules (environment-policy.ts in @slipway/metadata-api), enforced
 * here for every path. A change to production needs a confirmation naming exactly this from → to:
 * the preview's `confirmation`, sent back with the request. One given for another from → to (the
 * cluster changed since it was looked at) is refused, as is none at all.
 */
import { ConflictError, NotAllowedError } from '@slipway/core';
import { activeFreeze, policyOf, syncSetOf } from '@slipway/metadata-api';
import type { Deployment } from './deployment.js';
import type { OrchestratorComponents as components } from '@slipway/orchestrator-api';
import type { ImageRecord, Peers } from '../peers.js';
import { clusterNow, servingOf, type ClusterDeps, type ClusterNow } from '../clusters/serving.js';
import { compareVersions } from '../rollouts/versions.js';

type Schemas = components['schemas'];
export type Preview = Schemas['Preview'];
export type ChangeAction = Preview['action'];
export type ClusterChange = Schemas['ClusterChange'];
export type Side = Schemas['Side'];

/** What a change would put on one cluster. */
export interface Planned {
  service: string;
  env: string;
  image: ImageRecord;
  commit: string;
  instances: number;
  region?: string;
  /** A retained group it would re-enable (undo, revert). */
  group?: string;
}

export interface PreviewDeps extends ClusterDeps {
  peers: Pick<Peers, 'image'>;
}

const FAILED = new Set(['failed', 'rolled-back']);

/** How many of a service's latest deployments a preview looks through for a failure of the image. */
export const HISTORY_READ = 100;
const short = (commit?: string) => commit?.slice(0, 12) ?? 'none';

/** One cluster's change: from what serves now (read now, or given) to what is planned. */
export async function changeOf(
  deps: PreviewDeps,
  planned: Planned,
  properties: Record<string, unknown>,
  history: Deployment[],
  known?: ClusterNow,
): Promise<ClusterChange> {
  const { service, env, image } = planned;
  const now = known ?? (await clusterNow(deps, service, env));
  const serving = servingOf(now);
  const servingImage = serving?.image ? await deps.peers.image(serving.image) : undefined;
  const from: Side | null = serving
    ? {
        image: serving.image ?? null,
        ...(servingImage?.version ? { version: servingImage.version } : {}),
        ...(serving.commit ? { commit: serving.commit } : {}),
        group: serving.group,
        ...(serving.deployment ? { deployment: serving.deployment } : {}),
        instances: serving.instances,
      }
    : null;
  const order = servingImage ? compareVersions(image, servingImage) : undefined;
  const failed = history.find(
    (d) =>
      d.image === image.id &&
      FAILED.has(d.state) &&
      (d.env === env || policyOf(properties, d.env).production) &&
      d.finishedAt,
  );
  const set = syncSetOf(properties, env);
  const policy = policyOf(properties, env);
  const freeze = activeFreeze(policy);
  return {
    service,
    env,
    ...(set ? { set } : {}),
    ...(planned.region ? { region: planned.region } : {}),
    from,
    to: {
      image: image.id,
      ...(image.version ? { version: image.version } : {}),
      commit: planned.commit,
      ...(planned.group ? { group: planned.group } : {}),
      instances: planned.instances,
    },
    unchanged: !!serving && serving.image === image.id && serving.commit === planned.commit,
    downgrade: order !== undefined && order < 0,
    sameVersion: order === 0,
    ...(failed
      ? {
          failedBefore: {
            deployment: failed.id,
            env: failed.env,
            state: failed.state,
            at: failed.finishedAt!,
            ...(failed.reason ? { reason: failed.reason } : {}),
          },
        }
      : {}),
    policy: {
      production: policy.production,
      requireConfirmation: policy.requireConfirmation,
      ...(policy.approvers.length ? { approvers: policy.approvers } : {}),
      ...(freeze ? { frozen: { until: freeze.to, ...(freeze.reason ? { reason: freeze.reason } : {}) } } : {}),
    },
  };
}

/** `img-… (1.1.0)`: an image as a person reads it. */
function label(side: Pick<Side, 'image' | 'version'> | null): string {
  if (!side?.image) return 'nothing';
  return `${side.image}${side.version ? ` (${side.version})` : ''}`;
}

/** "search prod: img-a (1.1.0), config 0123… → img-b (1.0.0), config 4567…, a downgrade". */
export function describeChange(c: ClusterChange): string {
  const config = c.from?.commit === c.to.commit ? `config ${short(c.to.commit)} (unchanged)` : undefined;
  const fromSide = c.from ? `${label(c.from)}${config ? '' : `, config ${short(c.from.commit)}`}` : 'nothing';
  const toSide = `${label(c.to)}${config ? `, ${config}` : `, config ${short(c.to.commit)}`}`;
  return `${c.service} ${c.env}: ${fromSide} → ${toSide}${c.downgrade ? ', a downgrade' : ''}`;
}

/** The clusters a change would really change (a release leaves out those it would skip). */
const changing = (clusters: ClusterChange[]) => clusters.filter((c) => !c.skip);

/** The confirmation that names every from → to: each cluster, its image and config commit before and after. */
export function confirmationOf(clusters: ClusterChange[]): string {
  const changes = changing(clusters).map(
    (c) =>
      `${c.service} ${c.env} ${c.from?.image ?? 'nothing'}@${short(c.from?.commit)}→${c.to.image}@${short(c.to.commit)}`,
  );
  // A release that would skip every cluster still has a confirmation: of changing nothing.
  return changes.length ? changes.join(', ') : 'no change';
}

export function previewOf(action: ChangeAction, clusters: ClusterChange[], undoOf?: string): Preview {
  const warnings: string[] = [];
  for (const c of changing(clusters)) {
    if (c.downgrade) warnings.push(`${c.service} ${c.env}: a downgrade, from ${label(c.from)} back to ${label(c.to)}`);
    if (c.failedBefore)
      warnings.push(
        `${label(c.to)} failed in ${c.service} ${c.failedBefore.env} before: ${c.failedBefore.deployment} ${c.failedBefore.state} at ${c.failedBefore.at.slice(0, 16).replace('T', ' ')}${c.failedBefore.reason ? ` (${c.failedBefore.reason})` : ''}`,
      );
  }
  // Every cluster named, skipped now or not: enforcePolicy holds them all.
  for (const c of clusters) {
    if (c.policy.frozen)
      warnings.push(
        `${c.service} ${c.env} is frozen until ${c.policy.frozen.until}${c.policy.frozen.reason ? `: ${c.policy.frozen.reason}` : ''}`,
      );
    if (c.policy.approvers) warnings.push(`${c.service} ${c.env} is changed only by ${c.policy.approvers.join(', ')}`);
  }
  return {
    action,
    confirmationRequired: changing(clusters).some((c) => c.policy.requireConfirmation),
    confirmation: confirmationOf(clusters),
    clusters,
    warnings,
    ...(undoOf ? { undoOf } : {}),
  };
}

/**
 * The environments' rules, the same for every path: a freeze holds everything but an undo (the
 * way back); approvers, when named, are the only people who may change it; a confirmation, when
 * given, must name this very change; production needs one. The freeze and the approvers hold for
 * every cluster a release names, skipped now or not: a promotion skipped now may change it when
 * it runs (the coordinator asks again then); the confirmation is about what changes now.
 */
export function enforcePolicy(preview: Preview, request: { confirm?: string | undefined; by: string }): void {
  const clusters = changing(preview.clusters);
  const frozen = preview.clusters.find((c) => c.policy.frozen);
  if (frozen && preview.action !== 'undo') {
    const { until, reason } = frozen.policy.frozen!;
    throw new ConflictError(
      `${frozen.service} ${frozen.env} is frozen until ${until}${reason ? ` (${reason})` : ''}: only an undo or a rollback changes it before then`,
    );
  }
  const guarded = preview.clusters.find((c) => c.policy.approvers && !c.policy.approvers.includes(request.by));
  if (guarded)
    throw new NotAllowedError(
      `${guarded.service} ${guarded.env} is changed only by ${guarded.policy.approvers!.join(', ')}; ${request.by} is not one of them`,
    );
  const said = clusters.map(describeChange).join('; ');
  if (request.confirm !== undefined && request.confirm !== preview.confirmation)
    throw new ConflictError(
      `the confirmation names another change than this one would make now (${said || 'nothing'}): look at it again and confirm that`,
    );
  const production = clusters.filter((c) => c.policy.requireConfirmation);
  if (production.length > 0 && request.confirm === undefined) {
    const where = [...new Set(production.map((c) => `${c.service} ${c.env}`))].join(', ');
    throw new ConflictError(
      `${where} ${production.length > 1 ? 'are' : 'is'} production: a change there needs a confirmation naming what it changes (${said}); ask for its preview (…/preview) and send its confirmation back (slipway asks, or takes --yes)`,
    );
  }
}

/**
 * Why a release would leave a cluster as it is: it runs this image and config already (unless
 * forced) or — a promotion, Kargo's forward-only rule — the same or a newer version (unless
 * downgrades are allowed). Asked when the release is made (its preview) and again as each
 * cluster starts, since a promotion may wait for hours.
 */
export function skipReason(
  c: ClusterChange,
  rules: { promotion: boolean; allowDowngrade?: boolean | undefined; force?: boolean | undefined },
): string | undefined {
  if (c.unchanged && !rules.force) return `already runs ${label(c.to)} with config ${short(c.to.commit)}`;
  if (rules.promotion && !rules.allowDowngrade && c.from && (c.downgrade || c.sameVersion))
    return `runs ${label(c.from)}, ${c.sameVersion ? 'the same version' : 'newer'}: a promotion only moves forward (allow a downgrade to go back)`;
  return undefined;
}
