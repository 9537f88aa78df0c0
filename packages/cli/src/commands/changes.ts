/**
 * What changed between two releases of a service+env: the source commits between their
 * artifacts (from baking's record of builds and its Git mirror of the service's repository) and
 * the configuration keys that changed between their config commits. `deploy --dry-run` prints it
 * for a deployment not yet made, `history --commits` for each deployment made.
 */
import { answer, client } from '../api.js';
import { bold, dim, line } from '../output.js';

export interface Side {
  image?: string;
  version?: string;
  source?: string;
  config?: string;
}

export interface ChangePlan {
  service: string;
  env: string;
  from: Side;
  to: Side;
  /** `removed`: going back to an older artifact, these are the commits taken out. */
  commits: { commit: string; message?: string; author?: string; build?: string; removed?: true }[];
  /** `file: key` for every key added, removed or changed; undefined when it cannot be told. */
  configKeys?: string[];
}

async function versionOf(image: string | undefined): Promise<string | undefined> {
  if (!image) return undefined;
  const found = await client('baking').GET('/images/{id}', { params: { path: { id: image } } });
  return found.data?.version;
}

async function sourceOf(service: string, version: string | undefined): Promise<string | undefined> {
  if (!version) return undefined;
  const build = await client('baking').GET('/services/{service}/versions/{version}/build', {
    params: { path: { service, version } },
  });
  return build.data?.commit;
}

export async function side(service: string, image?: string, config?: string): Promise<Side> {
  const version = await versionOf(image);
  const source = await sourceOf(service, version);
  return {
    ...(image ? { image } : {}),
    ...(version ? { version } : {}),
    ...(source ? { source } : {}),
    ...(config ? { config } : {}),
  };
}

/**
 * The commits after `from` up to and with `to`, newest first, as the default branch has them;
 * when `to` is older than `from` (an undo, a revert), the commits after `to` up to and with
 * `from`, marked removed.
 */
async function commitsBetween(service: string, from?: string, to?: string): Promise<ChangePlan['commits']> {
  if (!to || from === to) return [];
  const listed = await answer(
    client('baking').GET('/services/{service}/commits', { params: { path: { service }, query: { limit: 100 } } }),
    'baking',
  );
  const start = listed.items.findIndex((c) => c.commit === to);
  if (start < 0) return [];
  const end = from ? listed.items.findIndex((c) => c.commit === from) : -1;
  const removed = end >= 0 && end < start;
  return listed.items.slice(removed ? end : start, removed ? start : end < 0 ? undefined : end).map((c) => ({
    commit: c.commit,
    ...(c.message ? { message: c.message } : {}),
    ...(c.author ? { author: c.author } : {}),
    ...(c.build?.status ? { build: c.build.status } : {}),
    ...(removed ? { removed: true as const } : {}),
  }));
}

/** The config service's names for the files, as people know them. */
const FILE_NAMES: Record<string, string> = {
  applicationProperties: 'application-properties.json',
  deploymentParams: 'deployment-params.json',
  launchData: 'launch-data.json',
};

async function configKeys(service: string, env: string, from?: string, to?: string): Promise<string[] | undefined> {
  if (!to) return undefined;
  if (!from) return [];
  const diff = await client('config').GET('/config/{service}/{env}/diff', {
    params: { path: { service, env }, query: { from, to } },
  });
  const files = diff.data?.files;
  if (!files) return undefined;
  const keys: string[] = [];
  for (const [file, change] of Object.entries(files)) {
    for (const [kind, mark] of [
      ['added', '+'],
      ['removed', '-'],
      ['changed', '~'],
    ] as const) {
      const value = Object.entries(change).find(([key]) => key === kind)?.[1];
      const names = Array.isArray(value)
        ? value.map(String)
        : value && typeof value === 'object'
          ? Object.keys(value)
          : [];
      for (const name of names) keys.push(`${mark} ${FILE_NAMES[file] ?? file}: ${name}`);
    }
  }
  return keys;
}

export async function planChange(service: string, env: string, from: Side, to: Side): Promise<ChangePlan> {
  const [commits, keys] = await Promise.all([
    commitsBetween(service, from.source, to.source),
    configKeys(service, env, from.config, to.config),
  ]);
  return { service, env, from, to, commits, ...(keys ? { configKeys: keys } : {}) };
}

export function printPlan(plan: ChangePlan, indent = ''): void {
  const describe = (s: Side) =>
    s.image
      ? `${s.image}${s.version ? ` (${s.version}${s.source ? ` @ ${s.source.slice(0, 12)}` : ''})` : ''}${s.config ? `, config ${s.config.slice(0, 12)}` : ''}`
      : 'nothing';
  line(`${indent}${bold(`${plan.service} ${plan.env}`)}: ${describe(plan.from)} → ${describe(plan.to)}`);
  if (plan.to.source && plan.commits.length === 0 && plan.from.source !== plan.to.source)
    line(`${indent}  ${dim('source commits: unknown (no build reported, or not on the default branch)')}`);
  for (const c of plan.commits)
    line(
      `${indent}  ${c.removed ? '- ' : ''}${c.commit.slice(0, 12)} ${c.message ?? ''} ${dim([c.author, c.build].filter(Boolean).join(', '))}`,
    );
  if (plan.configKeys === undefined) line(`${indent}  ${dim('config: cannot tell what changed')}`);
  else if (plan.configKeys.length === 0) line(`${indent}  ${dim('config: no key changed')}`);
  else for (const key of plan.configKeys) line(`${indent}  config ${key}`);
}
