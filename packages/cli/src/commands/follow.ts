/** Following a deployment live, and pause/resume/cancel/rollback of one. */
import { DEPLOYMENT_ID, RELEASE_ID } from '@slipway/grammar';
import type { ProgressEvent } from '@slipway/orchestrator-api';
import { answer, answerPatiently, CliError, client } from '../api.js';
import { outageNotice, recordEvents } from '../events.js';
import { bold, dim, green, line, red, seconds, show, stateColour, yellow, type GlobalOptions } from '../output.js';

const orchestrator = () => client('orchestrator');

/** Where an id of another kind is taken instead: a release's controls, a bake's follow. */
const elsewhere = (id: string, kind?: 'pause' | 'resume' | 'cancel' | 'rollback') =>
  RELEASE_ID.test(id) && kind && kind !== 'rollback'
    ? `; a release is ${kind === 'pause' ? 'paused' : kind === 'resume' ? 'resumed' : 'cancelled'} with slipway release-${kind} ${id}`
    : id.startsWith('bake-')
      ? `; a bake is followed with slipway bakes watch ${id}`
      : '';

export function deploymentId(id: string, kind?: 'pause' | 'resume' | 'cancel' | 'rollback'): string {
  if (!DEPLOYMENT_ID.test(id))
    throw new CliError(
      `${JSON.stringify(id)} is not a deployment id: they look like dep-abc123 (slipway history)${elsewhere(id, kind)}`,
      true,
    );
  return id;
}

/**
 * Ctrl-C while following stops following, not the work: say so and how to follow it again.
 * Answers the function that removes the handler.
 */
export function keepsRunningOnInterrupt(what: string, again: string): () => void {
  const onInterrupt = () => {
    process.stderr.write(`\n${what} keeps running. Follow it again: ${again}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}

/**
 * Follows a deployment live; succeeds only when it did. `announce`, the line naming it, is
 * printed once Ctrl-C is answered: a Ctrl-C the moment the id appears is answered too.
 */
export async function watch(id: string, options: GlobalOptions = {}, announce?: string) {
  if (RELEASE_ID.test(id)) {
    const { watchRelease } = await import('./release.js');
    return watchRelease(id, options);
  }
  if (!DEPLOYMENT_ID.test(id))
    throw new CliError(
      `${JSON.stringify(id)} is neither a deployment nor a release id: they look like dep-abc123 (slipway history) or rel-abc123 (slipway releases)${elsewhere(id)}`,
      true,
    );
  const stop = keepsRunningOnInterrupt(`Deployment ${id}`, `slipway watch ${id}  (or stop it: slipway cancel ${id})`);
  if (announce !== undefined && !options.json) line(announce);
  let lastProgress = '';
  let lastFinished = '';
  const notice = outageNotice('the deployment');
  const getDeployment = () =>
    answerPatiently(
      () => orchestrator().GET('/deployments/{id}', { params: { path: { id } } }),
      'orchestrator',
      notice,
    );
  try {
    for await (const { event, data, at } of recordEvents('deployment', id, { ...options, notice })) {
      if (event === 'action-started')
        line(`${at} ▸ ${data.action}${Number(data.attempt) > 1 ? yellow(` (attempt ${data.attempt})`) : ''}`);
      else if (event === 'action-finished') {
        lastFinished = String(data.action);
        line(
          `${at} ${green('✓')} ${data.action} ${dim(seconds(data.durationMs as number))} ${dim(String(data.output ?? ''))}`,
        );
      } else if (event === 'action-failed' || event === 'action-retry')
        line(`${at} ${red('✗')} ${data.action}: ${data.output}`);
      else if (event === 'progress' && data.text !== lastProgress) {
        const progress = data as unknown as ProgressEvent;
        lastProgress = progress.text;
        // A countdown every 5 s, not every second.
        const left = progress.secondsLeft;
        if (left === undefined || left % 5 === 0 || left <= 3) line(`${at}   ${dim(lastProgress)}`);
      } else if (event === 'finished')
        line(`${at} ${stateColour(String(data.state))}${data.reason ? `: ${data.reason}` : ''}`);
      else if (event === 'paused') {
        line(`${at} ${yellow('paused')}${lastFinished ? ` after ${lastFinished}` : ''}: slipway resume ${id}`);
        // The stream stays open while paused: following ends here unless it was resumed since.
        if ((await getDeployment()).state === 'paused') break;
      } else if (event.endsWith('-requested'))
        // Who asked: in a team, the one following is often not the one who paused or cancelled.
        line(`${at} ${event.slice(0, -'-requested'.length)} asked${data.by ? ` by ${data.by}` : ''}`);
      else if (['queued', 'resumed', 'started', 'admitted'].includes(event))
        line(`${at} ${event}${data.by ? ` by ${data.by}` : ''}`);
    }
  } finally {
    stop();
  }
  const final = await getDeployment();
  // Help says 0 only on success: a pause is not one, though the deployment may finish later.
  if (final.state === 'paused')
    throw new CliError(`${id} is paused, not finished: slipway resume ${id}, then slipway watch ${id}`);
  if (final.state !== 'succeeded') throw new CliError(`${id} ${final.state}${final.reason ? `: ${final.reason}` : ''}`);
}

type Record_ = Awaited<ReturnType<typeof deployment>>;
const deployment = (id: string) =>
  answer(orchestrator().GET('/deployments/{id}', { params: { path: { id } } }), 'orchestrator');

/** When a pause (or a cancel) will take effect: after the running action, with its time left if it says. */
export function takesEffect(d: Record_): string {
  const running = d.actions.find((a) => a.state === 'running') ?? d.actions[d.current];
  if (!running) return 'at the next action';
  const left = d.context.secondsLeft;
  return `after ${running.name}${left ? `, in about ${left} s` : ''}`;
}

const WORDS = { pause: 'pauses', resume: 'resumes', cancel: 'is cancelled', rollback: 'rolls back' } as const;

export async function control(
  kind: 'pause' | 'resume' | 'cancel' | 'rollback',
  id: string,
  options: GlobalOptions = {},
) {
  deploymentId(id, kind);
  const path = { params: { path: { id } } };
  if (kind === 'pause') {
    // Asked already, or paused already: say so rather than "pauses after …" again.
    const before = await deployment(id);
    const asked = before.requested?.pause;
    if (before.state === 'paused' || asked) {
      const said =
        before.state === 'paused'
          ? `${bold(id)} is paused already: slipway resume ${id}`
          : `${bold(id)}: a pause is asked already (by ${asked}); it pauses ${takesEffect(before)}`;
      show(options, { ...before, takesEffect: before.state === 'paused' ? 'now' : takesEffect(before) }, () =>
        line(said),
      );
      return;
    }
  }
  const result = await answer(
    kind === 'pause'
      ? orchestrator().POST('/deployments/{id}/pause', path)
      : kind === 'resume'
        ? orchestrator().POST('/deployments/{id}/resume', path)
        : kind === 'cancel'
          ? orchestrator().POST('/deployments/{id}/cancel', path)
          : orchestrator().POST('/deployments/{id}/rollback', path),
    'orchestrator',
  );
  const now = await deployment(id);
  const when = kind === 'pause' ? takesEffect(now) : kind === 'resume' ? 'now' : 'after the running action or wait';
  show(options, { ...result, takesEffect: when }, () =>
    line(`${bold(id)} ${WORDS[kind]} ${when}${kind === 'pause' ? ` (slipway watch ${id} says when it did)` : ''}`),
  );
}
