/**
 * `slipway status` and `slipway history` take the same arguments the same way: nothing (every
 * service), a service (each of its environments) or a service and an environment.
 */
import type { OrchestratorPaths } from '@slipway/orchestrator-api';
import { answer, client } from '../api.js';
import { getJson } from '../get-json.js';
import { knownEnv, knownServiceBefore } from '../names.js';
import { bold, dim, green, line, red, show, stateColour, table, yellow, type GlobalOptions } from '../output.js';
import {
  age,
  deployments,
  duration,
  environment,
  serviceImages,
  sourceOf,
  versionOf,
  type ImageInfo,
} from '../releases.js';

/** "undo of dep-…" or "rolled back: reason", beside the outcome. */
function outcome(d: { state: string; undoOf?: string }): string {
  const state = d.state === 'rolled-back' ? red('rolled back') : stateColour(d.state);
  return d.undoOf ? `${state} ${yellow('(undo)')}` : state;
}

/**
 * A retained group that never served successfully (its deployment rolled back, was cancelled or
 * failed) is marked: it is the first to go, and never gone back to; one scaled to zero says so.
 */
function standing(group: { disabled: boolean; vetted?: boolean; outcome?: string; scaledDown?: boolean }) {
  const marks = [
    ...(group.disabled && group.vetted === false
      ? [red(`never served successfully${group.outcome && group.outcome !== 'succeeded' ? ` (${group.outcome})` : ''}`)]
      : []),
    ...(group.scaledDown ? [dim('scaled to zero')] : []),
  ];
  return marks.length ? `  ${marks.join(', ')}` : '';
}

/** One service's images by name; several services' from one list, not a request per service. */
async function allImages(services: string[]): Promise<ImageInfo[]> {
  const wanted = new Set(services);
  if (wanted.size <= 1) return (await Promise.all([...wanted].map(serviceImages))).flat();
  const list = await answer(client('baking').GET('/images', { params: { query: { kind: 'service' } } }), 'baking');
  return list.items.filter((image) => image.service !== undefined && wanted.has(image.service));
}

/** Rows `slipway status` shows of every cluster before it says how many more there are. */
export const SCREENFUL = 40;

type ClusterList = OrchestratorPaths['/clusters']['get']['responses'][200]['content']['application/json'];
type ClusterRow = ClusterList['items'][number];

/** In the orchestrator's name order (service, then environment), as a list that fits a screen is shown. */
const byName = (rows: ClusterRow[]) =>
  [...rows].sort((a, b) => (`${a.service}:${a.env}` < `${b.service}:${b.env}` ? -1 : 1));

/**
 * Versions the answer did not say (a group put in service before deployments kept their image's
 * version), from those services' images alone: none to ask for, as a rule.
 */
async function unsaidVersions(rows: ClusterRow[]): Promise<Map<string, string | undefined>> {
  const services = [...new Set(rows.filter((c) => c.active?.image && !c.active.version).map((c) => c.service))];
  const images = (await Promise.all(services.map(serviceImages))).flat();
  return new Map(images.map((i) => [i.id, i.version]));
}

/**
 * Every cluster (or a service's), one request (node:http's: get-json.ts says why): a screenful, those needing attention first (the
 * orchestrator says which, and how many there are), unless --all or --json asks for every one.
 */
async function clusters(name: string | undefined, options: GlobalOptions & { all?: boolean }) {
  const every = options.all || options.json;
  const listed = await getJson<ClusterList>('orchestrator', '/clusters', {
    service: name,
    ...(every ? {} : { order: 'attention', limit: SCREENFUL }),
  });
  const many = listed.total > listed.items.length;
  // All of them fit: by name, as always; else the orchestrator's order, those needing attention first.
  const shown = many ? listed.items : byName(listed.items);
  const versions = options.json ? new Map<string, undefined>() : await unsaidVersions(shown);
  // --json prints what it always did, { items } of every cluster (each now with more fields).
  show(options, { items: listed.items }, () => {
    if (listed.total === 0)
      return line(
        name ? `${name} is deployed nowhere yet: slipway deploy ${name} ENV VERSION` : 'nothing deployed yet',
      );
    table([
      ['SERVICE', 'ENV', 'VERSION', 'IMAGE', 'HEALTHY', 'LAST DEPLOYMENT'],
      ...shown.map((c) => {
        const last = c.lastDeployment;
        return [
          c.service,
          c.env,
          c.active?.version ?? (c.active?.image ? versions.get(c.active.image) : undefined) ?? '-',
          c.active?.image ?? '-',
          `${c.health.healthy ?? 0}/${c.health.instances ?? 0}`,
          c.deploying
            ? yellow(`deploying ${c.deploying}`)
            : last
              ? `${outcome(last)} ${age(last.finishedAt ?? last.createdAt)} by ${last.by}`
              : '',
        ];
      }),
    ]);
    // More needing attention than a screen holds: how many of them are shown, not "shown first".
    const attention =
      listed.needingAttention > shown.length
        ? `${listed.needingAttention} needing attention, ${shown.length} of them shown`
        : `${listed.needingAttention} needing attention, shown first`;
    if (many)
      line(
        dim(
          `${listed.total - shown.length} more of ${listed.total} clusters (${attention}): slipway status --all, or slipway status SERVICE`,
        ),
      );
  });
}

export async function status(service?: string, env?: string, options: GlobalOptions & { all?: boolean } = {}) {
  const name = service ? await knownServiceBefore(service, env, 'status') : undefined;
  const environmentName = name && env ? await knownEnv(name, env) : undefined;
  if (!environmentName) return clusters(name, options);
  const [state, images, recent] = await Promise.all([
    environment(name!, environmentName),
    serviceImages(name!),
    deployments(name, environmentName, 5),
  ]);
  // The cluster's region is a deployment parameter: the newest deployment names it.
  const params = (recent[0]?.context as { params?: { region?: unknown } } | undefined)?.params;
  const region = typeof params?.region === 'string' ? dim(` (${params.region})`) : '';
  show(options, state, () => {
    line(
      `${bold(`${name} ${environmentName}`)}${region}${state.deploying ? yellow(`  deploying: ${state.deploying}`) : ''}`,
    );
    for (const group of [state.active, ...state.retained].filter((g) => g !== null && g !== undefined)) {
      const made = recent.find((d) => d.id === group.deployment);
      const source = sourceOf(made ?? { image: group.image ?? '' }, images);
      line(
        `  ${group.name} ${group.disabled ? dim('out of service') : green('in service')} ${versionOf(images, group.image) ?? ''} ${dim(`${group.image ?? ''}${source ? ` source ${source}` : ''} config ${group.commit?.slice(0, 12) ?? ''}`)}${standing(group)}`,
      );
      for (const i of group.instances) line(`    ${i.id} ${i.address ?? ''} ${i.lifecycle} ${stateColour(i.health)}`);
    }
    const last = recent[0];
    if (last)
      line(
        `last deployment: ${last.id} ${outcome(last)} ${duration(last.startedAt ?? last.createdAt, last.finishedAt)} ${age(last.finishedAt ?? last.createdAt)} by ${last.by}: ${last.message}${last.reason ? dim(` (${last.reason})`) : ''}`,
      );
  });
}

export async function history(service?: string, env?: string, options: GlobalOptions = {}) {
  const name = service ? await knownServiceBefore(service, env, 'history') : undefined;
  const environmentName = name && env ? await knownEnv(name, env) : undefined;
  const items = await deployments(name, environmentName, 20);
  const images = await allImages(items.map((d) => d.service));
  show(options, { items }, () => {
    if (items.length === 0) return line('no deployments yet');
    table([
      ['ID', 'SERVICE', 'ENV', 'VERSION', 'SOURCE', 'OUTCOME', 'STARTED', 'TOOK', 'WHO', 'WHY'],
      ...items.map((d) => [
        d.id,
        d.service,
        d.env,
        versionOf(images, d.image) ?? d.image,
        sourceOf(d, images).slice(0, 12) || '-',
        outcome(d),
        (d.startedAt ?? d.createdAt).slice(0, 16).replace('T', ' '),
        duration(d.startedAt ?? d.createdAt, d.finishedAt),
        d.by,
        d.message + (d.undoOf ? dim(` (undo of ${d.undoOf})`) : ''),
      ]),
    ]);
  });
}
