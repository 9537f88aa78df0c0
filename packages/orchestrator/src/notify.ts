/**
 * Tells people: on start, success, failure and rollback, a Slack message (incoming webhook,
 * @slack/webhook) to the service's `slack` metadata property or the global one, and a JSON
 * POST to the service's `webhook` property or the global one. A failing webhook is logged and
 * never fails a deployment.
 */
import { IncomingWebhook, type IncomingWebhookSendArguments } from '@slack/webhook';
import type { Logger } from '@slipway/core';
import type { Deployment } from './deployment.js';
import type { Peers } from './peers.js';

export type NotificationKind = 'start' | 'success' | 'failure' | 'rollback';

export interface Notifier {
  notify(deployment: Deployment, kind: NotificationKind): Promise<void>;
}

const ICON: Record<NotificationKind, string> = {
  start: ':rocket:',
  success: ':white_check_mark:',
  failure: ':x:',
  rollback: ':rewind:',
};

export function describeNotification(d: Deployment, kind: NotificationKind): string {
  const about = [d.context.imageVersion, d.context.sourceCommit && `source ${d.context.sourceCommit.slice(0, 12)}`];
  const known = about.filter(Boolean).join(', ');
  const what = `${d.service} ${d.env}: ${d.image}${known ? ` (${known})` : ''}, config ${d.context.commit?.slice(0, 12) ?? d.configRef ?? 'default branch'}`;
  const verb = { start: 'deploying', success: 'deployed', failure: 'failed to deploy', rollback: 'rolled back' }[kind];
  return `${ICON[kind]} ${d.by}${d.via ? ` (via ${d.via})` : ''} ${verb} ${what} — "${d.message}"${d.reason && kind !== 'success' ? `: ${d.reason}` : ''} [${d.id}]`;
}

/**
 * The message with buttons the chat service answers (POST /slack/actions), acting as whoever
 * presses one: a running deployment can be rolled back or paused, a finished one undone. A
 * failed or rolled-back one gets none: the old group already serves, and undo would go back a
 * release further than the one that failed.
 */
type Blocks = NonNullable<IncomingWebhookSendArguments['blocks']>;

export function slackBlocks(d: Deployment, kind: NotificationKind, text: string): Blocks {
  const button = (action: string, label: string, value: object, style?: 'danger' | 'primary') => ({
    type: 'button',
    action_id: `slipway:${action}`,
    text: { type: 'plain_text', text: label },
    value: JSON.stringify(value),
    ...(style ? { style } : {}),
    ...(style === 'danger'
      ? {
          confirm: {
            title: { type: 'plain_text', text: `${label}?` },
            text: { type: 'mrkdwn', text: `${label} ${d.service} ${d.env} (${d.id})` },
            confirm: { type: 'plain_text', text: label },
            deny: { type: 'plain_text', text: 'Cancel' },
          },
        }
      : {}),
  });
  const buttons =
    kind === 'start'
      ? [
          button('rollback', 'Roll back', { deployment: d.id }, 'danger'),
          button('pause', 'Pause', { deployment: d.id }),
        ]
      : kind === 'success'
        ? [button('undo', 'Undo', { service: d.service, env: d.env }, 'danger')]
        : [];
  const section = { type: 'section', text: { type: 'mrkdwn', text } };
  return (
    buttons.length ? [section, { type: 'actions', block_id: `slipway-${d.id}`, elements: buttons }] : [section]
  ) as Blocks;
}

export function createNotifier(options: {
  peers: Pick<Peers, 'service'>;
  logger: Logger;
  slackUrl?: string;
  webhookUrl?: string;
  timeoutMs?: number;
}): Notifier {
  const timeout = options.timeoutMs ?? 5000;
  return {
    async notify(d, kind) {
      try {
        const properties = (await options.peers.service(d.service))?.properties ?? {};
        const slack = typeof properties.slack === 'string' ? properties.slack : options.slackUrl;
        const hook = typeof properties.webhook === 'string' ? properties.webhook : options.webhookUrl;
        const text = describeNotification(d, kind);
        const sends: Promise<unknown>[] = [];
        if (slack)
          sends.push(new IncomingWebhook(slack, { timeout }).send({ text, blocks: slackBlocks(d, kind, text) }));
        if (hook) {
          const body = JSON.stringify({
            kind,
            text,
            deployment: {
              id: d.id,
              service: d.service,
              env: d.env,
              image: d.image,
              commit: d.context.commit,
              ...(d.context.sourceCommit ? { sourceCommit: d.context.sourceCommit } : {}),
              state: d.state,
              reason: d.reason,
              by: d.by,
              message: d.message,
            },
          });
          sends.push(
            fetch(hook, {
              method: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body,
              signal: AbortSignal.timeout(timeout),
            }).then((r) => {
              if (!r.ok) throw new Error(`webhook answered ${r.status}`);
            }),
          );
        }
        for (const result of await Promise.allSettled(sends)) {
          if (result.status === 'rejected') {
            options.logger.warn(
              { deployment: d.id, kind, err: result.reason },
              'notification failed (the deployment goes on)',
            );
          }
        }
      } catch (error) {
        options.logger.warn({ deployment: d.id, kind, err: error }, 'notification failed (the deployment goes on)');
      }
    },
  };
}
