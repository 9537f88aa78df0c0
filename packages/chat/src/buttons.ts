/**
 * The buttons on Slipway's Slack notifications (notify.ts in the orchestrator puts them there):
 * Roll back, Pause, Undo, and Revert on a failed build's message. Each acts as the person who
 * pressed it; a reader pressing one is refused, in a message only they see.
 */
import { isEnvName, isServiceName } from '@slipway/core';
import { refusal, type Conversation } from './commands.js';
import { FINISHED, followDeployment } from './follow.js';
import type { Deployment } from './slipway.js';

const DEPLOYMENT_ID = /^dep-[0-9a-z]{6,24}$/;
const COMMIT = /^[0-9a-f]{7,40}$/;

const LABEL: Record<string, string> = {
  rollback: 'Roll back',
  pause: 'Pause',
  undo: 'Undo',
  revert: 'Revert',
};

export async function handleButton(actionId: string, rawValue: string, c: Conversation): Promise<void> {
  const kind = actionId.replace(/^slipway:/, '');
  const label = LABEL[kind];
  if (!label) return c.thread.finish(`:grey_question: this Slipway button (${actionId}) is not known here`);
  const denied = refusal(c.actor, `${label}`, 'deployer');
  if (denied) return c.thread.finish(denied);
  let value: { deployment?: string; service?: string; env?: string; commit?: string };
  try {
    value = JSON.parse(rawValue) as typeof value;
  } catch {
    return c.thread.finish(':warning: this button carries no deployment');
  }
  const who = c.actor.subject;
  if (kind === 'rollback' || kind === 'pause') {
    const id = value.deployment;
    if (!id || !DEPLOYMENT_ID.test(id)) return c.thread.finish(':warning: this button carries no deployment');
    if (kind === 'rollback') {
      const d = await c.api.deployment(id);
      if (FINISHED.has(d.state)) return rollBackFinished(d, c);
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
  if (kind === 'undo') {
    const { id } = await c.api.undo(service, env, `undo from Slack by ${who}`);
    await c.thread.update(`:leftwards_arrow_with_hook: ${who} is undoing ${service} ${env} [${id}]…`);
    await followDeployment(c.api, id, c.thread, c.follow);
    return;
  }
  const commit = value.commit;
  if (!commit || !COMMIT.test(commit)) return c.thread.finish(':warning: this button carries no commit');
  const { id } = await c.api.revertCommit(service, env, commit, `revert ${commit.slice(0, 12)} from Slack by ${who}`);
  await c.thread.update(
    `:leftwards_arrow_with_hook: ${who} is reverting ${commit.slice(0, 12)} in ${service} ${env} [${id}]…`,
  );
  await followDeployment(c.api, id, c.thread, c.follow);
}

/**
 * Roll back pressed on a deployment that has ended: only a failed one whose group stayed in
 * service (the notification offers the button then) has something to roll back — undo, from
 * what serves now, deploys the release it replaced again. Anything else says why not.
 */
async function rollBackFinished(d: Deployment, c: Conversation): Promise<void> {
  if (d.state !== 'failed')
    return c.thread.finish(`:information_source: ${d.id} is ${d.state}: nothing of it to roll back`);
  const who = c.actor.subject;
  const { id } = await c.api.undo(d.service, d.env, `roll back ${d.id} from Slack by ${who}`);
  await c.thread.update(`:rewind: ${who} is rolling back ${d.id}: the release it replaced, again [${id}]…`);
  await followDeployment(c.api, id, c.thread, c.follow);
}
