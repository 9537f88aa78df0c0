/**
 * A failed build told to Slack (the service's `slack` incoming webhook, else the global one):
 * the commit, its author and CI link, and — for each environment already running an artifact
 * that contains the commit — a "Revert in <env>" button the chat service answers by deploying
 * the newest earlier release without it (revert-commit), as whoever pressed it.
 */
import { outboundFetch, type Logger } from '@slipway/core';
import type { FailedBuildFacts } from './build-operations.js';
import type { Build } from './builds.js';
import { buttonActionId } from '@slipway/orchestrator-api';

export interface FailedBuildNotice {
  /** Where to post: the service's Slack webhook, or undefined for none. */
  slackUrl(service: string): Promise<string | undefined>;
  logger: Logger;
}

export function failedBuildMessage(
  build: Build,
  running: { env: string; deployment?: string }[],
  about?: { message?: string; author?: string },
) {
  const short = build.commit.slice(0, 12);
  const envs = running.map((r) => r.env);
  const text = `:x: build of ${build.service} ${short}${about?.message ? ` "${about.message.split('\n')[0]}"` : ''}${about?.author ? ` by ${about.author}` : ''} failed${build.url ? ` — ${build.url}` : ''}${envs.length ? `; it runs in ${envs.join(', ')}` : ''}`;
  const section = { type: 'section', text: { type: 'mrkdwn', text } };
  if (running.length === 0) return { text, blocks: [section] };
  // Each names the deployment serving when it was sent: pressed after a newer one, it is refused.
  const buttons = running.map(({ env, deployment }) => ({
    type: 'button',
    action_id: buttonActionId('revert'),
    text: { type: 'plain_text', text: `Revert in ${env}` },
    style: 'danger',
    value: JSON.stringify({ service: build.service, env, commit: build.commit, ...(deployment ? { deployment } : {}) }),
    confirm: {
      title: { type: 'plain_text', text: `Revert ${short}?` },
      text: { type: 'mrkdwn', text: `Deploy the newest release of ${build.service} ${env} without ${short}.` },
      confirm: { type: 'plain_text', text: 'Revert' },
      deny: { type: 'plain_text', text: 'Cancel' },
    },
  }));
  return { text, blocks: [section, { type: 'actions', block_id: `slipway-revert-${short}`, elements: buttons }] };
}

/** Posts the notice; a webhook that fails is logged and never fails the report. */
export async function announceFailedBuild(
  build: Build,
  facts: FailedBuildFacts,
  notice: FailedBuildNotice,
): Promise<void> {
  try {
    const url = await notice.slackUrl(build.service);
    if (!url) return;
    const [envs, about] = await Promise.all([
      facts.runningWith().catch(() => []),
      facts.describe().catch(() => undefined),
    ]);
    const response = await outboundFetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(failedBuildMessage(build, envs, about)),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`Slack webhook answered ${response.status}`);
  } catch (error) {
    notice.logger.warn({ service: build.service, commit: build.commit, err: error }, 'failed-build notice not sent');
  }
}
