/**
 * `slipway deploy` and `slipway undo`: what will change is said before it does, as the
 * orchestrator computes it (preview.ts); production asks first on a terminal, takes --yes in a
 * script; deploying what already serves says so.
 */
import { answer, CliError, client } from '../api.js';
import { looksLikeImage, serviceName } from '@slipway/grammar';
import {
  grammar,
  knownEnv,
  knownService,
  knownServiceBefore,
  knownTarget,
  optionSeconds,
  resolveTarget,
  wellFormedImage,
} from '../names.js';
import { bold, dim, line, show, type GlobalOptions } from '../output.js';
import { confirmation, printPreview, type Preview } from '../preview.js';
import { ask, confirm, isInteractive } from '../prompt.js';
import {
  age,
  deployments,
  environment,
  imageFor,
  imageIn,
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

/** Deploying what serves already: said, and asked on a terminal, or needs --force. */
async function sameAgain(preview: Preview, options: DeployOptions, what: string): Promise<void> {
  const [change] = preview.clusters;
  if (!change?.unchanged || options.force) return;
  const runs = `${change.service} ${change.env} already runs this image and config`;
  if (!isInteractive() || options.yes) throw new CliError(`${runs}: add --force to ${what} it again`);
  const version = change.to.version ?? change.to.image;
  if (!(await confirm(`${change.service} ${change.env} already runs ${version} with this config: ${what} it again?`)))
    throw new CliError('nothing done');
}

/**
 * What `service env` names, in one question when both are given: the orchestrator's resolver
 * refuses a service not registered, and says whether the name is a cluster or a sync set. Only a
 * refusal asks more (the service list), to say it with the nearest name.
 */
async function target(service: string | undefined, env: string | undefined) {
  if (!service || !env) {
    const name = await knownService(service);
    return { name, resolved: env ? await resolveTarget(name, env) : undefined };
  }
  const resolved = await resolveTarget(
    grammar(() => serviceName(service)),
    env,
  ).catch(async (error: unknown) => {
    await knownServiceBefore(service, env, 'deploy');
    throw error;
  });
  return { name: service, resolved };
}

export async function deploy(service?: string, env?: string, image?: string, options: DeployOptions = {}) {
  if (image) wellFormedImage(image);
  const burnIn = optionSeconds('--burn-in', options.burnIn);
  const { name, resolved } = await target(service, env);
  // A sync set's name is a release to its clusters, as the orchestrator resolves it for every face.
  if (resolved?.kind === 'set') {
    if (!image) throw new CliError(`name what to release to ${name} ${env}: an image id or a version`, true);
    await (await import('./release.js')).deployToSyncSet(name, env!, image, options);
    return;
  }
  // A cluster the orchestrator does not know is found by the preview; the names are asked for then.
  const environmentName = resolved && env ? env : await knownEnv(name, env);
  // Without a terminal nothing can be asked: say what is missing before acting.
  if (!options.message && !isInteractive())
    await ask('Why (the deployment message)', '-m MESSAGE (why: the deployment message)');
  // An image id is the preview's to check (and it says the version); a version or a choice needs the list.
  const images = image && looksLikeImage(image) ? [] : await serviceImages(name);
  const chosen = image
    ? looksLikeImage(image)
      ? image
      : imageIn(images, name, image).id
    : isInteractive()
      ? await pickImage(name, environmentName, images)
      : (() => {
          throw new CliError('missing image (an image id, or a version such as 1.4.0)', true);
        })();
  const body = {
    service: name,
    env: environmentName,
    image: chosen,
    ...(options.ref ? { configRef: options.ref } : {}),
    ...(options.strategy ? { strategy: options.strategy } : {}),
    ...(burnIn !== undefined ? { params: { strategy: { burnInSeconds: burnIn } } } : {}),
  };
  const preview = await answer(orchestrator().POST('/deployments/preview', { body }), 'orchestrator').catch(
    async (error: unknown) => {
      // Refused: an environment or image that does not exist is said as the CLI always said it.
      await knownTarget(name, environmentName);
      if (image && looksLikeImage(image)) await imageFor(name, image);
      throw error;
    },
  );
  printPreview(preview, options);
  await sameAgain(preview, options, 'deploy');
  const confirm = await confirmation(preview, options, 'deploy');
  const message =
    options.message ?? (await ask('Why (the deployment message)', '-m MESSAGE (why: the deployment message)'));
  const started = await answer(
    orchestrator().POST('/deployments', {
      body: {
        ...body,
        message,
        // What was shown is what is deployed: the config commit, not the branch as it is by then.
        configRef: preview.clusters[0]!.to.commit!,
        ...(options.queue ? { queue: true } : {}),
        confirm,
      },
    }),
    'orchestrator',
  );
  if (options.wait === false) {
    show(options, started, () => line(started.id));
    return;
  }
  const version = preview.clusters[0]?.to.version;
  await watch(
    started.id,
    options,
    `${bold(started.id)}: ${name} ${environmentName} ← ${chosen}${version ? ` (${version})` : ''}`,
  );
}

/**
 * Undo as the orchestrator decides it (its preview): the release before what serves now. What
 * was shown is what is deployed: the request names the deployment it undoes and carries the
 * preview's confirmation, so a change in between is refused rather than undone past.
 */
export async function undo(service?: string, env?: string, options: DeployOptions = {}) {
  const name = await knownServiceBefore(service, env, 'undo');
  const environmentName = await knownEnv(name, env);
  if (!options.message && !isInteractive()) await ask('Why (the undo message)', '-m MESSAGE (why: the undo message)');
  const path = { params: { path: { service: name, env: environmentName } } };
  const preview = await answer(
    orchestrator().POST('/services/{service}/envs/{env}/undo/preview', { ...path, body: {} }),
    'orchestrator',
  );
  printPreview(preview, options);
  await sameAgain(preview, options, 'undo');
  const confirm = await confirmation(preview, options, 'undo');
  const message = options.message ?? (await ask('Why (the undo message)', '-m MESSAGE (why: the undo message)'));
  const started = await answer(
    orchestrator().POST('/services/{service}/envs/{env}/undo', {
      ...path,
      body: { message, confirm, ...(preview.undoOf ? { deployment: preview.undoOf } : {}) },
    }),
    'orchestrator',
  );
  if (options.wait === false) {
    show(options, started, () => line(started.id));
    return;
  }
  const to = preview.clusters[0]!.to;
  const target = `${to.image}${to.version ? ` (${to.version})` : ''}, config ${(to.commit ?? '').slice(0, 12)}`;
  await watch(started.id, options, `${bold(started.id)}: undo ${name} ${environmentName} → ${target}`);
}
