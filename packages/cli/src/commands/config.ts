import type { ConfigComponents } from '@slipway/config-api';
import { answer, CliError, client } from '../api.js';
import { printDiff } from '../diff.js';
import { knownEnv, knownServiceBefore } from '../names.js';
import { bold, dim, green, line, red, show, table, type GlobalOptions } from '../output.js';

const config = () => client('config');

interface ConfigOptions extends GlobalOptions {
  ref?: string;
  from?: string;
  to?: string;
}

/** What `config diff` prints of config's answer. */
export type ConfigDiff = Pick<ConfigComponents['schemas']['ConfigDiff'], 'from' | 'to' | 'files'>;

const FILES = [
  ['applicationProperties', 'application-properties.json'],
  ['deploymentParams', 'deployment-params.json'],
] as const;

/** The config change per file, readable; "no change" when there is none. */
export function printConfigDiff(diff: ConfigDiff): void {
  let any = false;
  for (const [key, file] of FILES) {
    const change = diff.files[key];
    const full = { added: change.added ?? {}, removed: change.removed ?? {}, changed: change.changed ?? {} };
    if (change.error) line(`${file}: ${red(change.error)}`);
    if (Object.keys(full.added).length + Object.keys(full.removed).length + Object.keys(full.changed).length === 0)
      continue;
    any = true;
    line(bold(file));
    printDiff(full, '  ');
  }
  const launch = diff.files.launchData;
  if ((launch.added?.length ?? 0) + (launch.removed?.length ?? 0) > 0) {
    any = true;
    line(bold('launch-data.json'));
    for (const l of launch.added ?? []) line(green(`  + ${l}`));
    for (const l of launch.removed ?? []) line(red(`  - ${l}`));
  }
  if (!any) line('no change');
}

export async function showConfig(service?: string, env?: string, options: ConfigOptions = {}): Promise<void> {
  const name = await knownServiceBefore(service, env, 'config show');
  const path = { service: name, env: await knownEnv(name, env) };
  const snapshot = await answer(
    config().GET('/config/{service}/{env}', { params: { path, query: options.ref ? { ref: options.ref } : {} } }),
    'config',
  );
  show(options, snapshot, () => {
    line(
      `${path.service} ${path.env} at ${snapshot.commit.slice(0, 12)} — ${snapshot.message.split('\n')[0]} (${snapshot.author})`,
    );
    if (!snapshot.valid) for (const e of snapshot.errors) line(`  invalid: ${e.file ?? ''} ${e.path} ${e.message}`);
    line(JSON.stringify(snapshot.files, null, 2));
  });
  // A script checking a config (`slipway config show … && deploy`) must see it is not valid.
  if (!snapshot.valid)
    throw new CliError(
      `${path.service} ${path.env} at ${snapshot.commit.slice(0, 12)} is not valid: ${snapshot.errors.length} problem(s) above`,
    );
}

export async function log(service?: string, env?: string, options: ConfigOptions = {}): Promise<void> {
  const name = await knownServiceBefore(service, env, 'config log');
  const path = { service: name, env: await knownEnv(name, env) };
  const commits = await answer(
    config().GET('/config/{service}/{env}/commits', {
      params: { path, query: options.ref ? { ref: options.ref } : {} },
    }),
    'config',
  );
  show(options, commits, () =>
    table([
      ['COMMIT', 'DATE', 'AUTHOR', 'MESSAGE'],
      ...commits.items.map((c) => [c.commit.slice(0, 12), c.date, c.author, c.message.split('\n')[0]!]),
    ]),
  );
}

export async function diff(service?: string, env?: string, options: ConfigOptions = {}): Promise<void> {
  if (!options.from)
    throw new CliError('--from is required: slipway config diff SERVICE ENV --from REF [--to REF]', true);
  const name = await knownServiceBefore(service, env, 'config diff');
  const path = { service: name, env: await knownEnv(name, env) };
  const to = options.to ?? 'HEAD';
  const result = await answer(
    config().GET('/config/{service}/{env}/diff', { params: { path, query: { from: options.from, to } } }),
    'config',
  );
  show(options, result, () => {
    line(dim(`${name} ${path.env}: ${result.from.commit.slice(0, 12)} → ${result.to.commit.slice(0, 12)}`));
    printConfigDiff(result);
  });
}
