/**
 * Releases: several services to every cluster of an environment in waves (`slipway release`),
 * an image from one environment to the next (`slipway promote`), the sync report (`slipway
 * sync`, exit 1 when a set is out of sync, for scripts and cron), and `slipway deploy` on a
 * logical environment — each followed live, one line per cluster.
 */
import type { OrchestratorPaths } from '@slipway/orchestrator-api';
import { answer, answerPatiently, CliError, client } from '../api.js';
import { outageNotice, recordEvents } from '../events.js';
import { bold, dim, green, line, red, show, stateColour, table, yellow, type GlobalOptions } from '../output.js';
import { grammar, knownEnv, knownServices, knownTarget, optionSeconds, resolveTarget } from '../names.js';
import { confirmation, printPreview } from '../preview.js';
import { looksLikeImage, releaseItem } from '@slipway/grammar';
import { ask } from '../prompt.js';
import { imageIn, serviceImages } from '../releases.js';
import { keepsRunningOnInterrupt } from './follow.js';

interface ReleaseOptions extends GlobalOptions {
  message?: string;
  env?: string;
  onFailure?: 'stop' | 'rollback-all';
  bake?: string;
  wait?: boolean;
  yes?: boolean;
  force?: boolean;
  allowDowngrade?: boolean;
}

const orchestrator = () => client('orchestrator');
/** POST /releases' body, as the orchestrator's document gives it. */
type ReleaseBody = NonNullable<OrchestratorPaths['/releases']['post']['requestBody']>['content']['application/json'];

/** `search@1.4.0` (a version) or `search@img-2f9c…` / `search@ami-…` (an image): the shared grammar's. */
export const parseItem = (spec: string) => grammar(() => releaseItem(spec));

/**
 * Shows what the release would change in each cluster (the orchestrator's preview: from → to,
 * what it skips and why), confirms production (asked, or --yes), then starts it carrying that
 * confirmation and follows it.
 */
async function start(
  body: Omit<ReleaseBody, 'message'>,
  options: ReleaseOptions,
  verb = 'release',
  names: () => Promise<unknown> = () => Promise.resolve(),
): Promise<void> {
  const bake = optionSeconds('--bake', options.bake);
  const message = options.message ?? (await ask('Why (the release message)', '-m MESSAGE (why: the release message)'));
  const request: ReleaseBody = {
    message,
    ...(options.env ? { env: options.env } : {}),
    ...(options.onFailure ? { onFailure: options.onFailure } : {}),
    ...(bake !== undefined ? { bakeSeconds: bake } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.allowDowngrade ? { allowDowngrade: true } : {}),
    ...body,
  };
  const preview = await answer(orchestrator().POST('/releases/preview', { body: request }), 'orchestrator').catch(
    async (error: unknown) => {
      // Refused: a name that is not one is said with the nearest, as deploy says it.
      await names();
      throw error;
    },
  );
  printPreview(preview, options);
  const confirm = await confirmation(preview, options, verb);
  const started = await answer(orchestrator().POST('/releases', { body: { ...request, confirm } }), 'orchestrator');
  if (options.wait === false) {
    // stdout stays the id (for scripts); what it will do, or did already, is said beside it.
    show(options, started, () => {
      line(started.id);
      if (started.state === 'skipped')
        process.stderr.write(`slipway: ${started.id} skipped${'reason' in started ? `: ${started.reason}` : ''}\n`);
      else if (started.state === 'waiting')
        process.stderr.write(`slipway: ${started.id} is waiting (--after): slipway watch ${started.id} follows it\n`);
    });
    return;
  }
  const release = await getRelease(started.id);
  if (!options.json) {
    line(
      `${bold(release.id)}: ${release.items.map((i) => `${i.service} ${i.version ?? i.image} → ${i.env}`).join(', ')}`,
    );
    for (const item of release.items.filter((i) => i.leftOut.length > 0))
      line(yellow(`  ${item.service}: left out ${item.leftOut.join(', ')}`));
    release.waves.forEach((w) =>
      line(
        dim(
          `  wave ${w.index + 1}: ${w.clusters.map((c) => `${c.service} ${c.env}${c.region ? ` (${c.region})` : ''}`).join(', ')}`,
        ),
      ),
    );
    // A promotion's --after: said with its time, not an hour of silence.
    const from = release.items.find((i) => i.promotedFrom)?.promotedFrom?.env;
    if (release.state === 'waiting' && release.notBefore)
      line(
        yellow(
          `  waiting until ${release.notBefore.slice(11, 19)} UTC: a promotion starts once its image has served in ${from ?? 'its environment'} that long (--after)`,
        ),
      );
  }
  await watchRelease(started.id, options);
}

/** Each item's image or version, said as deploy says it (the nearest version) when its service has none such. */
async function knownImages(items: { service: string; version?: string; image?: string }[]): Promise<void> {
  for (const item of items) {
    const given = item.version ?? item.image;
    if (given) imageIn(await serviceImages(item.service), item.service, given);
  }
}

export async function release(specs: string[], options: ReleaseOptions = {}): Promise<void> {
  if (specs.length === 0) throw new CliError('name what to release: service@version …', true);
  const items = specs.map(parseItem);
  // A typo is named with the nearest registered service (the orchestrator's refusal cannot).
  await knownServices([...new Set(items.map((i) => i.service))]);
  const env = options.env ?? 'prod';
  await start({ env, items }, options, 'release', async () => {
    await Promise.all([...new Set(items.map((i) => i.service))].map((service) => knownTarget(service, env)));
    await knownImages(items);
  });
}

export async function promote(
  service: string,
  from: string,
  to: string,
  options: ReleaseOptions & { after?: string } = {},
): Promise<void> {
  const after = optionSeconds('--after', options.after);
  await knownServices([service]);
  await start(
    { items: [{ service, from, env: to, ...(after !== undefined ? { afterSeconds: after } : {}) }] },
    {
      ...options,
      message: options.message ?? `Promote ${service} from ${from} to ${to}`,
    },
    'promote',
    async () => {
      await knownEnv(service, from);
      await knownTarget(service, to);
    },
  );
}

/**
 * `slipway deploy search live img-…` when `live` is a sync set: a release of that image to every
 * cluster of it; with a terminal, the deployer sees what each runs now and may leave some out.
 */
export async function deployToSyncSet(
  service: string,
  env: string,
  image: string,
  options: ReleaseOptions & { burnIn?: string },
): Promise<void> {
  const target = await resolveTarget(service, env);
  let envs = target.clusters;
  if (process.stdin.isTTY && process.stdout.isTTY && !options.json) {
    const sync = await answer(orchestrator().GET('/sync', { params: { query: { service } } }), 'orchestrator');
    const set = sync.items.find((s) => s.set === env) ?? {
      clusters: envs.map((e) => ({ env: e, image: null, version: null, region: undefined })),
    };
    const { checkbox } = await import('@inquirer/prompts');
    envs = await checkbox({
      message: `${service} ${env} is ${envs.length} clusters; release to`,
      choices: set.clusters.map((c) => ({
        value: c.env,
        checked: true,
        name: `${c.env}${c.region ? ` (${c.region})` : ''} — now ${c.image ?? 'nothing'}${c.version ? ` (${c.version})` : ''}`,
      })),
      required: true,
    });
  }
  // deploy's --burn-in holds for every cluster's deployment, as it does for one.
  const burnIn = optionSeconds('--burn-in', options.burnIn);
  const params = burnIn === undefined ? {} : { params: { strategy: { burnInSeconds: burnIn } } };
  const what = looksLikeImage(image) ? { image } : { version: image };
  await start({ items: [{ service, ...what, env, envs }], ...params }, options, 'deploy', () =>
    knownImages([{ service, ...what }]),
  );
}

/** Follows a release live: one line per cluster as it starts and ends, the waves and bakes between. */
export async function watchRelease(id: string, options: GlobalOptions = {}): Promise<void> {
  const notice = outageNotice('the release');
  const stop = keepsRunningOnInterrupt(
    `Release ${id}`,
    `slipway watch ${id}  (or stop it: slipway release-cancel ${id})`,
  );
  const read = () =>
    answerPatiently(() => orchestrator().GET('/releases/{id}', { params: { path: { id } } }), 'orchestrator', notice);
  try {
    await followRelease(id, options, notice, read);
  } finally {
    stop();
  }
  const done = await read();
  // As a deployment's watch: a pause is not a success, though the release may finish later.
  if (done.state === 'paused')
    throw new CliError(`${id} is paused, not finished: slipway release-resume ${id}, then slipway watch ${id}`);
  if (!options.json) line(`${bold(done.id)} ${stateColour(done.state)}${done.reason ? `: ${done.reason}` : ''}`);
  // Skipped changed nothing, on purpose (it runs that or newer already; superseded): not a failure.
  if (done.state !== 'succeeded' && done.state !== 'skipped') throw new CliError(`release ${done.id} ${done.state}`);
}

async function followRelease(
  id: string,
  options: GlobalOptions,
  notice: (why: string) => void,
  read: () => Promise<{ state: string }>,
): Promise<void> {
  for await (const { event, data, at } of recordEvents('release', id, { ...options, notice })) {
    const wave = `wave ${Number(data.wave) + 1}`;
    const where = `${data.service} ${data.env}`;
    if (event === 'wave-started') line(`${at} ${bold(wave)}: ${(data.clusters as string[]).join(', ')}`);
    else if (event === 'cluster-started')
      line(
        `${at} ▸ ${where} ${dim(`${wave}, ${data.deployment}`)}${data.downgradeFrom ? yellow(` a downgrade from ${data.downgradeFrom}`) : ''}`,
      );
    else if (event === 'cluster-rolling-back')
      line(`${at} ${yellow('↶')} ${where} rolling back ${dim(String(data.deployment))}`);
    else if (event === 'cluster-finished')
      line(
        `${at} ${data.state === 'succeeded' ? green('✓') : data.state === 'skipped' ? dim('–') : red('✗')} ${where} ${stateColour(String(data.state))}${data.reason ? dim(` ${data.reason}`) : ''}`,
      );
    else if (event === 'wave-finished' && data.bakeUntil)
      line(`${at} ${wave} done; baking until ${String(data.bakeUntil).slice(11, 19)}`);
    else if (event === 'stopped') line(`${at} ${red('stopped')}: ${data.reason}`);
    else if (event === 'cancel-requested') line(`${at} cancel asked${data.by ? ` by ${data.by}` : ''}`);
    else if (event === 'paused') {
      line(`${at} ${yellow('paused')}${data.by ? ` by ${data.by}` : ''}: slipway release-resume ${id}`);
      // The stream stays open while paused (for hours, maybe): following ends here unless it was resumed since.
      if ((await read()).state === 'paused') break;
    } else if (['resumed', 'started'].includes(event)) line(`${at} ${event}${data.by ? ` by ${data.by}` : ''}`);
  }
}

async function getRelease(id: string) {
  return answer(orchestrator().GET('/releases/{id}', { params: { path: { id } } }), 'orchestrator');
}

const CONTROLS = {
  pause: '/releases/{id}/pause',
  resume: '/releases/{id}/resume',
  cancel: '/releases/{id}/cancel',
} as const;

export async function controlRelease(kind: keyof typeof CONTROLS, id: string, options: GlobalOptions = {}) {
  const release = await answer(orchestrator().POST(CONTROLS[kind], { params: { path: { id } } }), 'orchestrator');
  show(options, release, () => line(controlledInWords(kind, release)));
}

/**
 * What a pause, resume or cancel did, in words: a release acts on them between clusters, so one
 * still running after the ask says it was asked and what happens next, never just "running".
 */
export function controlledInWords(
  kind: keyof typeof CONTROLS,
  release: { id: string; state: string; cancel?: string | undefined; notBefore?: string | undefined },
): string {
  const done = { pause: 'paused', resume: 'running', cancel: 'cancelled' }[kind];
  // A promotion resumed before its --after waits again, as it did before it was paused.
  if (kind === 'resume' && release.state === 'waiting' && release.notBefore)
    return `${release.id} ${stateColour(release.state)} until ${release.notBefore.slice(11, 19)} UTC (--after), then starts`;
  if (release.state === done || !['running', 'waiting', 'paused'].includes(release.state))
    return `${release.id} ${stateColour(release.state)}`;
  const next =
    kind === 'cancel'
      ? `a cancel is asked${release.cancel ? ` (by ${release.cancel})` : ''}: no further cluster starts and the ones deploying stop`
      : kind === 'pause'
        ? 'a pause is asked: it pauses before its next cluster'
        : 'a resume is asked';
  return `${release.id} ${stateColour(release.state)}, ${next}; slipway watch ${release.id} says when it has`;
}

export async function releases(options: GlobalOptions = {}): Promise<void> {
  const { items } = await answer(orchestrator().GET('/releases', { params: { query: { limit: 20 } } }), 'orchestrator');
  show(options, items, () =>
    table([
      ['ID', 'STATE', 'CREATED', 'WHAT', 'WHY'],
      ...items.map((r) => [
        r.id,
        stateColour(r.state),
        r.createdAt.slice(0, 19).replace('T', ' '),
        r.items.map((i) => `${i.service} ${i.version ?? i.image} → ${i.env}`).join(', '),
        r.message,
      ]),
    ]),
  );
}

/** The sync report as a table; exit 1 when any set is out of sync. */
export async function sync(service: string | undefined, options: GlobalOptions = {}): Promise<void> {
  const report = await answer(
    orchestrator().GET('/sync', { params: { query: service ? { service } : {} } }),
    'orchestrator',
  );
  show(options, report, () => {
    if (report.items.length === 0)
      return line('no sync sets: give a service `clusters` metadata, e.g. {"live": ["prod-a", "prod-b"]}');
    table([
      ['SERVICE', 'SET', 'CLUSTER', 'REGION', 'IMAGE', 'VERSION', 'CONFIG', ''],
      ...report.items.flatMap((s) =>
        s.clusters.map((c) => [
          s.service,
          s.set,
          c.env,
          c.region ?? '',
          c.image ?? '—',
          c.version ?? '',
          c.commit?.slice(0, 12) ?? '',
          c.odd ? red('out of sync') : s.inSync ? green('in sync') : '',
        ]),
      ),
    ]);
    for (const s of report.items.filter((s) => !s.inSync)) line(red(`${s.service} ${s.set}: ${s.differs.join('; ')}`));
  });
  if (!report.inSync) throw new CliError('out of sync');
}
