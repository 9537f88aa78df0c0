/** Follows a deployment or a bake until it ends, telling a ResponseThread what a person would want to see. */
import { setTimeout as sleep } from 'node:timers/promises';
import { isFinishedBake } from '@slipway/baking-api';
import { isFinishedState } from '@slipway/orchestrator-api';
import type { Bake, Deployment, SlipwayApi } from './slipway.js';
import type { ResponseThread } from './thread.js';

export interface FollowOptions {
  pollMs: number;
  /** A response_url works for 30 minutes; after that the notifications carry on. */
  timeoutMs: number;
}

const OUTCOME: Record<string, string> = {
  succeeded: ':white_check_mark:',
  failed: ':x:',
  'rolled-back': ':rewind:',
  cancelled: ':no_entry_sign:',
};

function what(d: Deployment): string {
  const about = [d.context.imageVersion, d.context.sourceCommit && `source ${d.context.sourceCommit.slice(0, 12)}`];
  const known = about.filter(Boolean).join(', ');
  return `${d.service} ${d.env} ← ${d.image}${known ? ` (${known})` : ''}`;
}

/** What a person sees of a deployment now, and the phase it is in (a new phase is worth a post). */
export function describeDeployment(d: Deployment): { phase: string; text: string } {
  if (isFinishedState(d.state)) {
    const verb = { succeeded: 'deployed', failed: 'failed', 'rolled-back': 'rolled back', cancelled: 'cancelled' }[
      d.state as 'succeeded'
    ];
    return {
      phase: d.state,
      text: `${OUTCOME[d.state]} ${what(d)}: ${verb}${d.reason && d.state !== 'succeeded' ? ` — ${d.reason}` : ''} [${d.id}]`,
    };
  }
  if (d.state === 'queued') return { phase: 'queued', text: `:hourglass: ${what(d)}: queued [${d.id}]` };
  if (d.state === 'paused') return { phase: 'paused', text: `:double_vertical_bar: ${what(d)}: paused [${d.id}]` };
  const action = d.actions[d.current]?.name ?? '';
  const progress = d.context.progress ? ` — ${d.context.progress}` : '';
  return d.context.enabled
    ? { phase: 'in-service', text: `:rocket: ${what(d)}: in service, ${action}${progress} [${d.id}]` }
    : { phase: 'starting', text: `:rocket: ${what(d)}: ${action}${progress} [${d.id}]` };
}

export async function followDeployment(
  api: SlipwayApi,
  id: string,
  thread: ResponseThread,
  options: FollowOptions,
): Promise<Deployment | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let phase: string | undefined;
  for (;;) {
    const d = await api.deployment(id);
    const shown = describeDeployment(d);
    if (isFinishedState(d.state)) {
      await thread.finish(shown.text);
      return d;
    }
    if (shown.phase !== phase) {
      phase = shown.phase;
      await thread.update(shown.text);
    }
    if (Date.now() > deadline) {
      await thread.finish(`${shown.text} — still going; \`/slipway status ${d.service} ${d.env}\` shows it`);
      return undefined;
    }
    await sleep(options.pollMs);
  }
}

export async function followBake(
  api: SlipwayApi,
  id: string,
  thread: ResponseThread,
  options: FollowOptions,
): Promise<Bake | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const bake = await api.bakeState(id);
    const name = bake.service ? `${bake.service} ${bake.version}` : 'base';
    if (isFinishedBake(bake.state)) {
      await thread.finish(
        bake.state === 'succeeded'
          ? `:white_check_mark: baked ${name}: ${bake.image} [${id}]${bake.service ? `\nnext: \`/slipway deploy ${bake.service} <env> ${bake.image} -m "why"\`` : ''}`
          : `:x: bake of ${name} ${bake.state}${bake.reason ? `: ${bake.reason}` : ''} [${id}]`,
      );
      return bake;
    }
    await thread.update(`:bread: baking ${name}: ${bake.state} [${id}]`);
    if (Date.now() > deadline) {
      await thread.finish(`:bread: baking ${name}: still ${bake.state} [${id}]`);
      return undefined;
    }
    await sleep(options.pollMs);
  }
}
