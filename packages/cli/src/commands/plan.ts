/**
 * `slipway deploy … --dry-run` (what a deployment would change: source commits and config keys,
 * against what runs now — then exits) and `slipway history … --commits` (the same for each
 * deployment made, against the one before it).
 */
import { answer, CliError, client } from '../api.js';
import { knownEnv, knownService, resolveTarget } from '../names.js';
import { bold, line, show, stateColour, type GlobalOptions } from '../output.js';
import { imageFor } from '../releases.js';
import { planChange, printPlan, side, type ChangePlan } from './changes.js';

interface DeployOptions extends GlobalOptions {
  dryRun?: boolean;
  ref?: string;
  commits?: boolean;
}

export async function deployOrPlan(name?: string, envName?: string, given?: string, options: DeployOptions = {}) {
  if (!options.dryRun) return (await import('./deploy.js')).deploy(name, envName, given, options);
  if (!name || !envName || !given)
    throw new CliError('deploy --dry-run needs a service, an environment and an image', true);
  const service = await knownService(name);
  // A sync set: what the release would change in each of its clusters.
  const target = await resolveTarget(service, envName);
  const members = target.kind === 'set' ? target.clusters : undefined;
  const envs = members ?? [await knownEnv(service, envName)];
  // A version names its newest image, as deploy has it.
  const image = (await imageFor(service, given)).id;
  const plans: ChangePlan[] = [];
  for (const env of envs) plans.push(await planFor(service, env, image, options));
  show(options, members ? { set: envName, plans } : plans[0], () => {
    line(`Would deploy (nothing is deployed: --dry-run):`);
    for (const plan of plans) printPlan(plan);
  });
}

async function planFor(service: string, env: string, image: string, options: DeployOptions): Promise<ChangePlan> {
  const now = await answer(
    client('orchestrator').GET('/services/{service}/envs/{env}', { params: { path: { service, env } } }),
    'orchestrator',
  );
  const config = await answer(
    // no-cache: what the branch names after a push of a moment ago, as the deploy itself will read it.
    client('config').GET('/config/{service}/{env}', {
      params: {
        path: { service, env },
        query: options.ref ? { ref: options.ref } : {},
        header: { 'Cache-Control': 'no-cache' },
      },
    }),
    'config',
  );
  return planChange(
    service,
    env,
    await side(service, now.active?.image, now.active?.commit),
    await side(service, image, config.commit),
  );
}

export async function historyOrCommits(service?: string, env?: string, options: DeployOptions = {}) {
  if (!options.commits) return (await import('./status.js')).history(service, env, options);
  if (!service || !env) throw new CliError('history --commits needs a service and an environment', true);
  const page = await answer(
    client('orchestrator').GET('/deployments', { params: { query: { service, env, limit: 10 } } }),
    'orchestrator',
  );
  const plans: Array<{ id: string; state: string; plan: ChangePlan }> = [];
  for (const [i, d] of page.items.entries()) {
    const previous = page.items.slice(i + 1).find((p) => p.state === 'succeeded');
    plans.push({
      id: d.id,
      state: d.state,
      plan: await planChange(
        service,
        env,
        await side(service, previous?.image, previous?.context.commit),
        await side(service, d.image, d.context.commit),
      ),
    });
  }
  show(options, plans, () => {
    for (const { id, state, plan } of plans) {
      const d = page.items.find((item) => item.id === id)!;
      line(`${bold(id)} ${stateColour(state)} ${d.createdAt} ${d.by}${d.via ? ` via ${d.via}` : ''}: ${d.message}`);
      printPlan(plan, '  ');
    }
  });
}
