/**
 * The buttons on Slipway's Slack notifications (notify.ts in the orchestrator puts them there):
 * Roll back, Pause, Undo, and Revert on a failed build's message. Each acts as the person who
 * pressed it; a reader pressing one is refused, in a message only they see.
 */
import { isEnvName, isServiceName } from '@slipway/core';
import { confirmMessage, describePreview, makeChange, previewOf, type Change } from './changes.js';
import { refusal, type Conversation } from './commands.js';
import { DEPLOYMENT_ID } from '@slipway/grammar';
import { buttonKind, isFinishedState, type ButtonKind } from '@slipway/orchestrator-api';
import { followDeployment } from './follow.js';
import type { Deployment } from './slipway.js';

const COMMIT = /^[0-9a-f]{7,40}$/;

const LABEL: Record<ButtonKind, string> = {
  rollback: 'Roll back',
  pause: 'Pause',
  undo: 'Undo',
  revert: 'Revert',
  confirm: 'Confirm',
};

const CHANGES = new Set(['deploy', 'undo', 'revert', 'release', 'promote']);

/**
 * A change from a button, on purpose: previewed first (an undo or revert naming its deployment is
 * refused there when that no longer serves); production answers the preview with a Confirm button,
 * anything else goes on at once with the preview's confirmation.
 */
async function onPurpose(change: Change, c: Conversation, starting: string): Promise<void> {
  const preview = await previewOf(c, change);
  if (preview.confirmationRequired) {
    const { text, blocks } = confirmMessage(preview, change);
    return c.thread.finish(text, blocks);
  }
  await c.thread.update(`${starting}\n${describePreview(preview)}`);
  await makeChange(c, change, preview.confirmation);
}

export async function handleButton(actionId: string, rawValue: string, c: Conversation): Promise<void> {
  const kind = buttonKind(actionId);
  if (!kind) return c.thread.finish(`:grey_question: this Slipway button (${actionId}) is not known here`);
  const label = LABEL[kind];
  const denied = refusal(c.actor, `${label}`, 'deployer');
  if (denied) return c.thread.finish(denied);
  let value: { deployment?: string; service?: string; env?: string; commit?: string; verb?: string; confirm?: string };
  try {
    value = JSON.parse(rawValue) as typeof value;
  } catch {
    return c.thread.finish(':warning: this button carries no deployment');
  }
  const who = c.actor.subject;
  if (kind === 'confirm') {
    // The preview was confirmed: the change as it was shown, with its confirmation (refused if the clusters changed since).
    if (!value.verb || !CHANGES.has(value.verb) || !value.confirm)
      return c.thread.finish(':warning: this button carries no change to confirm');
    const { confirm, ...change } = value as Change & { confirm: string };
    await c.thread.update(`:white_check_mark: ${who} confirmed: ${change.verb}…`);
    return makeChange(c, change as Change, confirm);
  }
  if (value.deployment !== undefined && !DEPLOYMENT_ID.test(value.deployment))
    return c.thread.finish(':warning: this button carries no deployment');
  if (kind === 'rollback' || kind === 'pause') {
    const id = value.deployment;
    if (!id || !DEPLOYMENT_ID.test(id)) return c.thread.finish(':warning: this button carries no deployment');
    if (kind === 'rollback') {
      const d = await c.api.deployment(id);
      if (isFinishedState(d.state)) return rollBackFinished(d, c);
    }
    await c.api.control(kind, id);
    if (kind === 'pause')
      return c.thread.finish(`:double_vertical_bar: ${who} paused ${id}: it stops after the running action`);
    await c.thread.update(`:rewind: ${who} is rolling back ${id}…`);
    await followDeployment(c.api, id, c.thread, c.follow);
    return;
  }
  const { service, env } = value;
  if (!service || !env || !isServiceName(service) || !isEnvName(env))
    return c.thread.finish(':warning: this button carries no service and environment');
  // Undo and Revert act on the deployment their message was for: refused when it no longer serves.
  const deployment = value.deployment ? { deployment: value.deployment } : {};
  if (kind === 'undo') {
    const change: Change = { verb: 'undo', service, env, message: `undo from Slack by ${who}`, ...deployment };
    return onPurpose(
      change,
      c,
      `:leftwards_arrow_with_hook: ${who} is undoing ${service} ${env}${value.deployment ? ` (${value.deployment})` : ''}…`,
    );
  }
  const commit = value.commit;
  if (!commit || !COMMIT.test(commit)) return c.thread.finish(':warning: this button carries no commit');
  const message = `revert ${commit.slice(0, 12)} from Slack by ${who}`;
  await onPurpose(
    { verb: 'revert', service, env, commit, message, ...deployment },
    c,
    `:leftwards_arrow_with_hook: ${who} is reverting ${commit.slice(0, 12)} in ${service} ${env}…`,
  );
}

/**
 * Roll back pressed on a deployment that has ended: only a failed one whose group stayed in
 * service (the notification offers the button then) has something to roll back — undo, from
 * what serves now, deploys the release it replaced again. Anything else says why not.
 */
async function rollBackFinished(d: Deployment, c: Conversation): Promise<void> {
  if (d.state !== 'failed')
    return c.thread.finish(`:information_source: ${d.id} has finished (${d.state}): nothing of it to roll back`);
  const who = c.actor.subject;
  // An undo from what serves, naming this deployment: refused if another serves now.
  await onPurpose(
    {
      verb: 'undo',
      service: d.service,
      env: d.env,
      message: `roll back ${d.id} from Slack by ${who}`,
      deployment: d.id,
    },
    c,
    `:rewind: ${who} is rolling back ${d.id}: the release it replaced, again…`,
  );
}
