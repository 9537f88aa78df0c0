/**
 * Tells people: on start, success, failure and rollback, a Slack message (incoming webhook,
 * @slack/webhook) to the service's `slack` metadata property or the global one, and a JSON
 * POST to the service's `webhook` property or the global one. A failing webhook is logged and
 * never fails a deployment. The outcomes come from the outbox (runner.ts), delivered at least
 * once: each message carries its key (`<deployment>:<kind>`: the Slack section's block_id, the
 * webhook's `key` and `Idempotency-Key`) for the receiver to drop a second delivery.
 */
import { IncomingWebhook, type IncomingWebhookSendArguments } from '@slack/webhook';
import { outboundFetch, type Logger } from '@slipway/core';
import { trafficSaid } from './actions/analysis.js';
import type { Deployment } from './deployments/deployment.js';
import type { Peers } from './peers.js';
import { buttonActionId, type ButtonKind } from '@slipway/orchestrator-api';

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
  // A failure names what the traffic showed, also when something else failed it.
  const traffic = kind === 'failure' || kind === 'rollback' ? trafficSaid(d) : undefined;
  // Going back to an older version is said as such, whoever asked for it.
  const downgrade = d.context.downgradeFrom ? ` (a downgrade from ${d.context.downgradeFrom})` : '';
  return `${ICON[kind]} ${d.by}${d.via ? ` (via ${d.via})` : ''} ${verb} ${what}${downgrade} — "${d.message}"${d.reason && kind !== 'success' ? `: ${d.reason}` : ''}${traffic ? `; ${traffic}` : ''} [${d.id}]`;
}

/**
 * The message with buttons the chat service answers (POST /slack/actions), acting as whoever
 * presses one, each said in words under them:
 * - running: Roll back (the previous release back in service, the new group out) and Pause;
 * - deployed: Undo (the release before it deployed again);
 * - failed with its new group still in service (its rollback could not finish): Roll back, which
 *   deploys the release it replaced again (undo from what serves now);
 * - failed before taking traffic, cancelled, or rolled back: no button, and the message says
 *   why — the previous release serves, and an Undo there would go one release further back.
 */
type Blocks = NonNullable<IncomingWebhookSendArguments['blocks']>;

/** Whether a finished deployment left its new group in service (its rollback did not finish). */
export function leftInService(d: Deployment): boolean {
  const tookOut = d.actions.some((a) => a.name === 'take-new-group-out' && a.state === 'done');
  return d.state === 'failed' && !!d.context.enabled && !!d.context.group && !tookOut;
}

export function slackBlocks(d: Deployment, kind: NotificationKind, text: string): Blocks {
  const button = (action: ButtonKind, label: string, value: object, style?: 'danger' | 'primary', what?: string) => ({
    type: 'button',
    action_id: buttonActionId(action),
    text: { type: 'plain_text', text: label },
    value: JSON.stringify(value),
    ...(style ? { style } : {}),
    ...(style === 'danger'
      ? {
          confirm: {
            title: { type: 'plain_text', text: `${label}?` },
            text: { type: 'mrkdwn', text: `${label} ${d.service} ${d.env} (${d.id})${what ? `: ${what}` : ''}` },
            confirm: { type: 'plain_text', text: label },
            deny: { type: 'plain_text', text: 'Cancel' },
          },
        }
      : {}),
  });
  const previous = d.context.previous;
  let buttons: ReturnType<typeof button>[] = [];
  let said: string;
  if (kind === 'start') {
    const back = previous
      ? `puts ${previous} back in service and takes the new group out`
      : // Sent as the first action starts: which group serves now is not looked up yet.
        'takes the new group out and leaves the group serving before it (if any) in service';
    buttons = [
      button('rollback', 'Roll back', { deployment: d.id }, 'danger', back),
      button('pause', 'Pause', { deployment: d.id }),
    ];
    said = `*Roll back* ${back}; *Pause* stops it after the action running now (resume with /slipway resume ${d.id}).`;
  } else if (kind === 'success') {
    const undo = 'deploys the release before this one again (its image and config)';
    // It names this deployment: pressed after a newer one, the undo is refused rather than undoing that.
    buttons = [button('undo', 'Undo', { deployment: d.id, service: d.service, env: d.env }, 'danger', undo)];
    said = `*Undo* ${undo}.`;
  } else if (kind === 'failure' && leftInService(d) && previous) {
    const back = `deploys the release it replaced (${previous}) again; ${d.context.group} leaves service`;
    buttons = [button('rollback', 'Roll back', { deployment: d.id, service: d.service, env: d.env }, 'danger', back)];
    said = `${d.context.group} is still in service: its rollback did not finish. *Roll back* ${back}.`;
  } else if (kind === 'failure' && leftInService(d)) {
    said = `${d.context.group} is still in service, and there is no earlier release to go back to.`;
  } else if (kind === 'rollback' || (kind === 'failure' && previous)) {
    said = `${previous ?? 'The previous release'} serves, as before this deployment: nothing to roll back. No Undo here — it would go one release further back (/slipway undo ${d.service} ${d.env} does that, if you mean it).`;
  } else {
    said = 'Nothing of it serves: there was no release before it.';
  }
  // Keyed by deployment and outcome: the outbox delivers at least once, and a receiver dedupes by it.
  const section = { type: 'section', block_id: notificationKey(d, kind), text: { type: 'mrkdwn', text } };
  const context = { type: 'context', elements: [{ type: 'mrkdwn', text: said }] };
  return (
    buttons.length
      ? [section, { type: 'actions', block_id: `slipway-${d.id}`, elements: buttons }, context]
      : [section, context]
  ) as Blocks;
}

/** What a notification is about, the same each time it is sent: `<deployment>:<kind>`. */
export function notificationKey(d: Pick<Deployment, 'id'>, kind: NotificationKind): string {
  return `${d.id}:${kind}`;
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
          sends.push(
            new IncomingWebhook(slack, { timeout, fetch: outboundFetch }).send({
              text,
              blocks: slackBlocks(d, kind, text),
            }),
          );
        if (hook) {
          const body = JSON.stringify({
            key: notificationKey(d, kind),
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
            outboundFetch(hook, {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'Idempotency-Key': notificationKey(d, kind) },
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
