/**
 * The buttons on Slipway's Slack notifications (notify.ts in the orchestrator puts them there):
 * Roll back, Pause, Undo, and Revert on a failed build's message. Each acts as the person who
 * pressed it; a reader pressing one is refused, in a message only they see.
 */
import { isEnvName, isServiceName } from '@slipway/core';
import { refusal, type Conversation } from './commands.js';
import { followDeployment } from './follow.js';

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
