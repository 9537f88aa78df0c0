import { answer, CliError, client, raw } from '../api.js';
import { readEvents } from '../events.js';
import {
  bold,
  dim,
  green,
  line,
  red,
  seconds,
  show,
  stateColour,
  table,
  yellow,
  type GlobalOptions,
} from '../output.js';
import { ask, choose } from '../prompt.js';
import { imageIds } from './bake.js';
import { pickEnv } from './config.js';
import { pickService } from './services.js';

const orchestrator = () => client('orchestrator');

interface DeployOptions extends GlobalOptions {
  message?: string;
  ref?: string;
  strategy?: 'red-black' | 'progressive' | 'highlander';
  wait?: boolean;
  queue?: boolean;
  burnIn?: string;
}

export async function deploy(service?: string, env?: string, image?: string, options: DeployOptions = {}) {
  // A logical environment (a sync set in the service's metadata) is a release to its clusters.
  if (service && env && image && (await (await import('./release.js')).deployToSyncSet(service, env, image, options)))
    return;
  const name = await pickService(service);
  const environment = await pickEnv(name, env);
  const chosen = image ?? (await choose('image', () => imageIds(name)));
  const message = options.message ?? (await ask('Why (the deployment message)'));
  const started = await answer(
    orchestrator().POST('/deployments', {
      body: {
        service: name,
        env: environment,
        image: chosen,
        message,
        ...(options.ref ? { configRef: options.ref } : {}),
        ...(options.strategy ? { strategy: options.strategy } : {}),
        ...(options.queue ? { queue: true } : {}),
        ...(options.burnIn !== undefined ? { params: { strategy: { burnInSeconds: Number(options.burnIn) } } } : {}),
      },
    }),
    'orchestrator',
  );
  if (options.wait === false) {
    show(options, started, () => line(started.id));
    return;
  }
  if (!options.json) line(`${bold(started.id)}: ${name} ${environment} ← ${chosen}`);
  await watch(started.id, options);
}

/** Follows a deployment live; succeeds only when it did. */
export async function watch(id: string, options: GlobalOptions = {}) {
  const response = await raw('orchestrator', `/deployments/${id}/events`);
  if (!response.ok) throw new CliError(((await response.json()) as { detail?: string }).detail ?? `${response.status}`);
  let lastProgress = '';
  for await (const event of readEvents(response)) {
    if (event.event === 'end') break;
    const data = JSON.parse(event.data) as Record<string, unknown>;
    if (options.json) {
      line(JSON.stringify(data));
      continue;
    }
    const at = dim(String(data.at).slice(11, 19));
    if (event.event === 'action-started')
      line(`${at} ▸ ${data.action}${Number(data.attempt) > 1 ? yellow(` (attempt ${data.attempt})`) : ''}`);
    else if (event.event === 'action-finished')
      line(
        `${at} ${green('✓')} ${data.action} ${dim(seconds(data.durationMs as number))} ${dim(String(data.output ?? ''))}`,
      );
    else if (event.event === 'action-failed' || event.event === 'action-retry')
      line(`${at} ${red('✗')} ${data.action}: ${data.output}`);
    else if (event.event === 'progress' && data.text !== lastProgress) {
      lastProgress = String(data.text);
      // A countdown every 5 s, not every second.
      const left = Number(/(\d+) s left$/.exec(lastProgress)?.[1] ?? 0);
      if (left % 5 === 0 || left <= 3) line(`${at}   ${dim(lastProgress)}`);
    } else if (event.event === 'finished')
      line(`${at} ${stateColour(String(data.state))}${data.reason ? `: ${data.reason}` : ''}`);
    else if (
      ['queued', 'paused', 'resumed', 'started', 'admitted'].includes(event.event) ||
      event.event.endsWith('-requested')
    )
      line(`${at} ${event.event}`);
  }
  const final = await answer(orchestrator().GET('/deployments/{id}', { params: { path: { id } } }), 'orchestrator');
  if (final.state === 'paused') return;
  if (final.state !== 'succeeded') throw new CliError(`${id} ${final.state}${final.reason ? `: ${final.reason}` : ''}`);
}

export async function status(service?: string, env?: string, options: GlobalOptions = {}) {
  if (!service) {
    const clusters = await answer(orchestrator().GET('/clusters'), 'orchestrator');
    show(options, clusters, () =>
      table([
        ['SERVICE', 'ENV', 'GROUP', 'IMAGE', 'HEALTHY', 'DEPLOYING'],
        ...clusters.items.map((c) => [
          c.service,
          c.env,
          c.active?.name ?? '-',
          c.active?.image ?? '-',
          `${c.health.healthy ?? 0}/${c.health.instances ?? 0}`,
          c.deploying ?? '',
        ]),
      ]),
    );
    return;
  }
  const environment = await pickEnv(service, env);
  const state = await answer(
    orchestrator().GET('/services/{service}/envs/{env}', { params: { path: { service, env: environment } } }),
    'orchestrator',
  );
  show(options, state, () => {
    line(`${bold(`${service} ${environment}`)}${state.deploying ? yellow(`  deploying: ${state.deploying}`) : ''}`);
    for (const group of [state.active, ...state.retained].filter((g) => g !== null && g !== undefined)) {
      line(
        `  ${group.name} ${group.disabled ? dim('out of service') : green('in service')} ${group.image ?? ''} config ${group.commit?.slice(0, 12) ?? ''}`,
      );
      for (const i of group.instances) line(`    ${i.id} ${i.address ?? ''} ${i.lifecycle} ${stateColour(i.health)}`);
    }
  });
}

export async function history(service?: string, env?: string, options: GlobalOptions = {}) {
  const name = await pickService(service);
  const page = await answer(
    orchestrator().GET('/deployments', { params: { query: { service: name, ...(env ? { env } : {}), limit: 20 } } }),
    'orchestrator',
  );
  show(options, page, () =>
    table([
      ['ID', 'ENV', 'IMAGE', 'STATE', 'WHEN', 'WHO', 'WHY'],
      ...page.items.map((d) => [d.id, d.env, d.image, stateColour(d.state), d.createdAt, d.by, d.message]),
    ]),
  );
}

export async function control(
  kind: 'pause' | 'resume' | 'cancel' | 'rollback',
  id: string,
  options: GlobalOptions = {},
) {
  const path = { params: { path: { id } } };
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
  show(options, result, () => line(`${id}: ${kind} asked (${result.state})`));
}

export async function undo(service?: string, env?: string, options: DeployOptions = {}) {
  const name = await pickService(service);
  const environment = await pickEnv(name, env);
  const message = options.message ?? (await ask('Why (the undo message)'));
  const started = await answer(
    orchestrator().POST('/services/{service}/envs/{env}/undo', {
      params: { path: { service: name, env: environment } },
      body: { message },
    }),
    'orchestrator',
  );
  if (options.wait === false) {
    show(options, started, () => line(started.id));
    return;
  }
  if (!options.json) line(`${bold(started.id)}: undo ${name} ${environment}`);
  await watch(started.id, options);
}
