/**
 * What a change would do, as the orchestrator computes it (its `…/preview` operations), shown
 * before anything happens: per cluster the version and config commit from → to, the instances, a
 * downgrade, what a release would skip and why, and warnings (a version that failed there before,
 * a freeze). Production asks on a terminal, takes `--yes` in a script, and is a usage error
 * naming `--yes` otherwise. The request then carries the preview's confirmation, so the server
 * refuses it if the cluster changed since (a stale preview), production or not.
 */
import type { OrchestratorComponents } from '@slipway/orchestrator-api';
import { CliError } from './errors.js';
import { bold, dim, red, yellow } from './output.js';
import { confirm, isInteractive } from './prompt.js';

export type Preview = OrchestratorComponents['schemas']['Preview'];
type Change = Preview['clusters'][number];
type Side = OrchestratorComponents['schemas']['Side'];

const short = (commit?: string) => commit?.slice(0, 12) ?? 'none';
const label = (side?: Pick<Side, 'image' | 'version'> | null) =>
  side?.image ? `${side.image}${side.version ? ` (${side.version})` : ''}` : 'nothing';

/** One cluster's change as lines: version, config, instances, then why it would be skipped. */
export function changeLines(c: Change): string[] {
  const config =
    c.from?.commit === c.to.commit
      ? `unchanged (${short(c.to.commit)})`
      : `${c.from ? short(c.from.commit) : 'none'} → ${short(c.to.commit)}`;
  return [
    `${bold(`${c.service} ${c.env}`)}${c.region ? dim(` (${c.region})`) : ''}:`,
    c.from?.image === c.to.image
      ? `  version  unchanged (${label(c.to)})`
      : `  version  ${label(c.from)} → ${label(c.to)}${c.downgrade ? ` ${red('a downgrade')}` : ''}`,
    `  config   ${config}`,
    `  instances ${c.from?.instances ?? 0} → ${c.to.instances}`,
    ...(c.skip ? [`  ${yellow('skipped')}: ${c.skip}`] : []),
  ];
}

/** The preview on stderr (stdout stays the command's answer), unless --json. */
export function printPreview(preview: Preview, options: { json?: boolean }): void {
  if (options.json) return;
  const lines = [...preview.clusters.flatMap(changeLines), ...preview.warnings.map((w) => yellow(`! ${w}`))];
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** "search prod", or "search prod-a, prod-b". */
function where(changes: Change[]): string {
  const byService = new Map<string, string[]>();
  for (const c of changes) byService.set(c.service, [...(byService.get(c.service) ?? []), c.env]);
  return [...byService].map(([service, envs]) => `${service} ${envs.join(', ')}`).join('; ');
}

/**
 * The confirmation to send with the change: asked for when production needs it (on a terminal),
 * given by --yes, a usage error naming --yes without a terminal. `verb` says the change
 * ("deploy", "undo", "release", "promote", "revert").
 */
export async function confirmation(
  preview: Preview,
  options: { yes?: boolean | undefined },
  verb: string,
): Promise<string> {
  if (!preview.confirmationRequired || options.yes) return preview.confirmation;
  const production = preview.clusters.filter((c) => !c.skip && c.policy.requireConfirmation);
  const downgrade = production.some((c) => c.downgrade) ? ', a downgrade' : '';
  const what = production.map((c) => `${label(c.from)} → ${label(c.to)}`);
  const unique = [...new Set(what)];
  const said = `${where(production)} is production: ${verb} ${unique.join(', ')}${downgrade}`;
  if (!isInteractive())
    throw new CliError(`${said}: nothing is asked without a terminal; add --yes to confirm it`, true);
  // Short enough for one line of a terminal: the versions (the lines above say the images).
  const versions = [
    ...new Set(production.map((c) => `${c.from?.version ?? label(c.from)} → ${c.to.version ?? label(c.to)}`)),
  ];
  const question = `${where(production)} is production: ${verb} ${versions.join(', ')}${downgrade}?`;
  if (!(await confirm(question))) throw new CliError('nothing done');
  return preview.confirmation;
}
