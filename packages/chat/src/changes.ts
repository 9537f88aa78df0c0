/**
 * A change asked from Slack (a command or a button) moves production only on purpose, as the CLI
 * does: the orchestrator's preview comes first (from → to per cluster, a downgrade, a version that
 * failed there before); production answers that preview with a **Confirm** button carrying the
 * change and its confirmation, and only a press of it makes the change — which the orchestrator
 * refuses if the clusters changed since (the confirmation names another from → to). Elsewhere the
 * change goes on at once, still carrying the confirmation, so it does what was previewed or nothing.
 */
import { followDeployment } from './follow.js';
import type { Conversation } from './commands.js';
import type { DeployRequest, Preview, ReleaseRequest } from './slipway.js';
import { buttonActionId } from '@slipway/orchestrator-api';

/** A change, as a Confirm button carries it (its value: this, with `confirm`). */
export type Change =
  | { verb: 'deploy'; request: Omit<DeployRequest, 'confirm'> }
  | { verb: 'undo'; service: string; env: string; message: string; deployment?: string }
  | { verb: 'revert'; service: string; env: string; commit: string; message: string; deployment?: string }
  | { verb: 'release' | 'promote'; request: Omit<ReleaseRequest, 'confirm'> };

/** Slack keeps at most 2000 characters in a button's value. */
const VALUE_LIMIT = 2000;

export async function previewOf(c: Conversation, change: Change): Promise<Preview> {
  const { api } = c;
  switch (change.verb) {
    case 'deploy': {
      const { message: _message, queue: _queue, ...request } = change.request;
      return api.previewDeploy(request);
    }
    case 'undo':
      return api.previewUndo(change.service, change.env, change.deployment);
    case 'revert':
      return api.previewRevert(change.service, change.env, change.commit, change.deployment);
    default:
      return api.previewRelease(change.request);
  }
}

const label = (side?: { image: string | null; version?: string } | null) =>
  side?.image ? `${side.image}${side.version ? ` (${side.version})` : ''}` : 'nothing';
const short = (commit?: string) => commit?.slice(0, 12) ?? 'none';

/** The preview in a person's words, one line a cluster, then the warnings. */
export function describePreview(preview: Preview): string {
  const lines = preview.clusters.map((c) => {
    const config =
      c.from?.commit === c.to.commit ? 'config unchanged' : `config ${short(c.from?.commit)} → ${short(c.to.commit)}`;
    const skip = c.skip ? ` — skipped: ${c.skip}` : '';
    return `• *${c.service} ${c.env}*: ${label(c.from)} → ${label(c.to)}, ${config}${c.downgrade ? ', *a downgrade*' : ''}${skip}`;
  });
  return [...lines, ...preview.warnings.map((w) => `:warning: ${w}`)].join('\n');
}

/** The words of a change, for the question and its button. */
function verbOf(change: Change): string {
  return change.verb === 'revert' ? 'Revert' : change.verb[0]!.toUpperCase() + change.verb.slice(1);
}

/** The preview with its Confirm button, for a change production must confirm. */
export function confirmMessage(preview: Preview, change: Change): { text: string; blocks?: unknown[] } {
  const where = [
    ...new Set(preview.clusters.filter((c) => c.policy.requireConfirmation).map((c) => `${c.service} ${c.env}`)),
  ];
  const text = `:raised_hand: ${where.join(', ')} ${where.length > 1 ? 'are' : 'is'} production: nothing is changed until you confirm.\n${describePreview(preview)}`;
  const value = JSON.stringify({ ...change, confirm: preview.confirmation });
  if (value.length > VALUE_LIMIT)
    return { text: `${text}\n(This change is too large to confirm from Slack: use the CLI, slipway … --yes.)` };
  const verb = verbOf(change);
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'actions',
        block_id: 'slipway-confirm',
        elements: [
          {
            type: 'button',
            action_id: buttonActionId('confirm'),
            text: { type: 'plain_text', text: `${verb}: confirm` },
            style: 'danger',
            value,
            confirm: {
              title: { type: 'plain_text', text: `${verb} in production?` },
              text: { type: 'mrkdwn', text: describePreview(preview).slice(0, 290) },
              confirm: { type: 'plain_text', text: verb },
              deny: { type: 'plain_text', text: 'Cancel' },
            },
          },
        ],
      },
    ],
  };
}

/** What a change started: a deployment (followed) or a release (its waves run on their own). */
export interface Started {
  kind: 'deployment' | 'release';
  id: string;
  state: string;
}

/** Makes the change with its confirmation; answers what it started. */
export async function startChange(c: Conversation, change: Change, confirm: string): Promise<Started> {
  const { api } = c;
  const deployment = ({ id, state }: { id: string; state: string }): Started => ({ kind: 'deployment', id, state });
  switch (change.verb) {
    case 'deploy':
      return deployment(await api.deploy({ ...change.request, confirm }));
    case 'undo': {
      const named = { confirm, ...(change.deployment ? { deployment: change.deployment } : {}) };
      return deployment(await api.undo(change.service, change.env, change.message, named));
    }
    case 'revert': {
      const named = { confirm, ...(change.deployment ? { deployment: change.deployment } : {}) };
      return deployment(await api.revertCommit(change.service, change.env, change.commit, change.message, named));
    }
    default: {
      const { id, state } = await api.release({ ...change.request, confirm });
      return { kind: 'release', id, state };
    }
  }
}

/** A release started, in words: its waves are followed by sync and status, not here. */
export function describeRelease(answer: Pick<Started, 'id' | 'state'>): string {
  return `:package: release \`${answer.id}\` ${answer.state}: its waves run in order — \`/slipway sync\` and \`/slipway status\` follow it`;
}

/** Follows what a change started, in the thread, to its end. */
export async function followChange(c: Conversation, started: Started): Promise<void> {
  if (started.kind === 'release') return c.thread.finish(describeRelease(started));
  await followDeployment(c.api, started.id, c.thread, c.follow);
}

/** Makes the change with its confirmation, and follows what it started in the thread. */
export async function makeChange(c: Conversation, change: Change, confirm: string): Promise<void> {
  await followChange(c, await startChange(c, change, confirm));
}
