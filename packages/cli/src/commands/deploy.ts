/**
 * `slipway deploy` and `slipway undo`: what will change is said before it does; an environment
 * marked production (the service's `production` metadata property) asks first on a terminal;
 * deploying what already serves says so.
 */
import { answer, CliError, client } from '../api.js';
import { knownEnv, knownService, wellFormedImage } from '../names.js';
import { bold, dim, line, show, type GlobalOptions } from '../output.js';
import { ask, confirm, isInteractive } from '../prompt.js';
import {
  age,
  deployments,
  environment,
  imageFor,
  imageLabel,
  preferredImage,
  serviceImages,
  type ImageInfo,
} from '../releases.js';
import { watch } from './follow.js';

const orchestrator = () => client('orchestrator');

interface DeployOptions extends GlobalOptions {
  message?: string;
  ref?: string;
  strategy?: 'red-black' | 'progressive' | 'highlander';
  wait?: boolean;
  queue?: boolean;
  burnIn?: string;
  yes?: boolean;
  force?: boolean;
}

/** The service's `production` property: an environment name or a list of them. */
async function isProduction(service: string, env: string): Promise<boolean> {
  const record = await answer(
    client('metadata').GET('/services/{name}', { params: { path: { name: service } } }),
    'metadata',
  );
  const marked = record.metadata.production;
  return marked === env || marked === true || (Array.isArray(marked) && marked.includes(env));
}

/** The image choices a person decides by: version, age, serving now, failed before. */
async function pickImage(service: string, env: string, images: ImageInfo[]): Promise<string> {
  const { select } = await import('@inquirer/prompts');
  const [current, history] = await Promise.all([environment(service, env), deployments(service, env, 50)]);
  const failed = new Set(history.filter((d) => d.state === 'failed' || d.state === 'rolled-back').map((d) => d.image));
  if (images.length === 0) throw new CliError(`${service} has no images: slipway bake ${service} VERSION`);
  const serving = current.active?.image;
  const choices = images.map((i) => ({
    value: i.id,
    name: [
      i.id,
      i.version ?? '',
      dim(age(i.createdAt)),
      i.id === serving ? `serving in ${env} now` : '',
      failed.has(i.id) ? `failed in ${env} before` : '',
    ]
      .filter(Boolean)
      .join('  '),
  }));
  // Never the newest pre-selected when it already failed.
  const preferred = preferredImage(images, failed, serving);
  return select({
    message: `Which image of ${service} to deploy to ${env}?`,
    choices,
    ...(preferred ? { default: preferred } : {}),
  });
}

interface Plan {
  service: string;
  env: string;
  image: string;
  commit?: string;
  instances?: number;
}

/** "version from → to, config commit from → to, instances", printed (stderr) before acting. */
async function describe(plan: Plan, images: ImageInfo[]): Promise<{ text: string; same: boolean }> {
  const current = await environment(plan.service, plan.env);
  const active = current.active;
  const from = active ? imageLabel(images, active.image) : 'nothing';
  const instancesNow = active?.instances.length ?? 0;
  const text = [
    `${bold(`${plan.service} ${plan.env}`)}:`,
    `  version  ${from} → ${imageLabel(images, plan.image)}`,
    active?.commit && active.commit === plan.commit
      ? `  config   unchanged (${plan.commit.slice(0, 12)})`
      : `  config   ${active?.commit?.slice(0, 12) ?? 'none'} → ${plan.commit?.slice(0, 12) ?? '(resolved at deploy)'}`,
    `  instances ${instancesNow} → ${plan.instances ?? '?'}`,
  ].join('\n');
  return { text, same: active?.image === plan.image && !!plan.commit && active?.commit === plan.commit };
}

async function configAt(service: string, env: string, ref?: string) {
  const snapshot = await answer(
    client('config').GET('/config/{service}/{env}', {
      params: { path: { service, env }, query: ref ? { ref } : {} },
    }),
    'config',
  );
  // Config's document leaves the file's fields to deployment-params.json's own schema: read as that says.
  const params = snapshot.files.deploymentParams as { capacity?: { desired?: number } } | null;
  return { commit: snapshot.commit, instances: params?.capacity?.desired };
}

/** Says what will change; asks on a terminal for production, or when nothing would change. */
async function confirmPlan(plan: Plan, images: ImageInfo[], options: DeployOptions, what: string): Promise<void> {
  const { text, same } = await describe(plan, images);
  if (!options.json) process.stderr.write(`${text}\n`);
  if (same && !options.force) {
    const question = `${plan.service} ${plan.env} already runs ${imageLabel(images, plan.image)} with this config: ${what} it again?`;
    if (!isInteractive() || options.yes)
      throw new CliError(
        `${plan.service} ${plan.env} already runs this image and config: add --force to ${what} it again`,
      );
    if (!(await confirm(question))) throw new CliError('nothing done');
    return;
  }
  if (options.yes || !isInteractive()) return;
  if (await isProduction(plan.service, plan.env)) {
    if (!(await confirm(`${plan.env} is production: ${what} ${plan.service}?`))) throw new CliError('nothing done');
  }
}

export async function deploy(service?: string, env?: string, image?: string, options: DeployOptions = {}) {
  if (image) wellFormedImage(image);
  // A logical environment (a sync set in the service's metadata) is a release to its clusters.
  if (service && env && image && (await (await import('./release.js')).deployToSyncSet(service, env, image, options)))
    return;
  const name = await knownService(service);
  const environmentName = await knownEnv(name, env);
  // Without a terminal nothing can be asked: say what is missing before acting.
  if (!options.message && !isInteractive())
    await ask('Why (the deployment message)', '-m MESSAGE (why: the deployment message)');
  const images = await serviceImages(name);
  const chosen = image
    ? (await imageFor(name, image)).id
    : isInteractive()
      ? await pickImage(name, environmentName, images)
      : (() => {
          throw new CliError('missing image (an image id, or a version such as 1.4.0)', true);
        })();
  const config = await configAt(name, environmentName, options.ref);
  await confirmPlan(
    { service: name, env: environmentName, image: chosen, commit: config.commit, instances: config.instances },
    images,
    options,
    'deploy',
  );
  const message =
    options.message ?? (await ask('Why (the deployment message)', '-m MESSAGE (why: the deployment message)'));
  const started = await answer(
    orchestrator().POST('/deployments', {
      body: {
        service: name,
        env: environmentName,
        image: chosen,
        message,
        configRef: config.commit,
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
  await watch(started.id, options, `${bold(started.id)}: ${name} ${environmentName} ← ${imageLabel(images, chosen)}`);
}

export async function undo(service?: string, env?: string, options: DeployOptions = {}) {
  const name = await knownService(service);
  const environmentName = await knownEnv(name, env);
  if (!options.message && !isInteractive()) await ask('Why (the undo message)', '-m MESSAGE (why: the undo message)');
  const images = await serviceImages(name);
  const releases = (await deployments(name, environmentName, 50)).filter((d) => d.state === 'succeeded');
  const previous = releases[1];
  if (!previous) throw new CliError(`${name} ${environmentName} has no earlier release to go back to`);
  const config = previous.context.commit ? await configAt(name, environmentName, previous.context.commit) : undefined;
  await confirmPlan(
    {
      service: name,
      env: environmentName,
      image: previous.image,
      commit: previous.context.commit,
      instances: config?.instances,
    },
    images,
    options,
    'undo',
  );
  const message = options.message ?? (await ask('Why (the undo message)', '-m MESSAGE (why: the undo message)'));
  const started = await answer(
    orchestrator().POST('/services/{service}/envs/{env}/undo', {
      params: { path: { service: name, env: environmentName } },
      body: { message },
    }),
    'orchestrator',
  );
  const record = await answer(
    orchestrator().GET('/deployments/{id}', { params: { path: { id: started.id } } }),
    'orchestrator',
  );
  const target = `${imageLabel(images, record.image)}, config ${(record.configRef ?? '').slice(0, 12)}`;
  if (options.wait === false) {
    show(options, started, () => line(started.id));
    return;
  }
  await watch(started.id, options, `${bold(started.id)}: undo ${name} ${environmentName} → ${target}`);
}
