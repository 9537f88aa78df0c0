/**
 * `slipway revert SERVICE ENV COMMIT`: deploys the newest earlier release whose artifact does not
 * contain that source commit (undo's way), and follows it. A short commit id is completed from
 * the service's recent commits.
 */
import { answer, CliError, client } from '../api.js';
import { knownEnv, knownService } from '../names.js';
import { bold, line, show, type GlobalOptions } from '../output.js';
import { confirmation, printPreview } from '../preview.js';
import { watch } from './follow.js';

export async function revert(
  serviceName: string,
  envName: string,
  commit: string,
  options: GlobalOptions & { message?: string; wait?: boolean; yes?: boolean } = {},
) {
  if (!/^[0-9a-f]{7,40}$/.test(commit)) throw new CliError(`'${commit}' is not a commit id`, true);
  // An unknown service or environment is named with the nearest one, before the commit is looked for.
  const service = await knownService(serviceName);
  const env = await knownEnv(service, envName);
  let full = commit;
  if (commit.length < 40) {
    const listed = await answer(
      client('baking').GET('/services/{service}/commits', { params: { path: { service }, query: { limit: 100 } } }),
      'baking',
    );
    const matches = listed.items.filter((c) => c.commit.startsWith(commit));
    if (matches.length !== 1)
      throw new CliError(
        matches.length
          ? `${commit} names ${matches.length} commits: give more of it`
          : `no recent commit of ${service} starts with ${commit}`,
      );
    full = matches[0]!.commit;
  }
  // What it would deploy, as the orchestrator decides it; production is confirmed (asked, or --yes).
  const path = { params: { path: { service, env } } };
  const preview = await answer(
    client('orchestrator').POST('/services/{service}/envs/{env}/revert-commit/preview', {
      ...path,
      body: { commit: full },
    }),
    'orchestrator',
  );
  printPreview(preview, options);
  const confirm = await confirmation(preview, options, 'revert to');
  const started = await answer(
    client('orchestrator').POST('/services/{service}/envs/{env}/revert-commit', {
      ...path,
      body: {
        commit: full,
        message: options.message ?? `revert ${full.slice(0, 12)}`,
        confirm,
        ...(preview.undoOf ? { deployment: preview.undoOf } : {}),
      },
    }),
    'orchestrator',
  );
  if (options.wait === false) {
    show(options, started, () => line(started.id));
    return;
  }
  await watch(
    started.id,
    options,
    `${bold(started.id)}: ${service} ${env} back to ${started.version} (${started.image}), without ${full.slice(0, 12)}`,
  );
}
