/**
 * What each `/slipway` command does for one person: reads answer at once; what changes something
 * is asked of Slipway first — a typo is answered with Slipway's refusal, never "deploying…" — and
 * once accepted it is acknowledged ("deploying search img-… (1.4.0) to prod [dep-…]") and followed
 * in the same message until it ends. The person's role is checked first, for a clear refusal;
 * the services check it again (the calls act as that person).
 */
import { roleAllows, type Role } from '@slipway/core';
import { confirmMessage, describeRelease, previewOf, startChange, type Change, type Started } from './changes.js';
import { HELP, type ChatCommand } from './grammar.js';
import { followBake, followDeployment, type FollowOptions } from './follow.js';
import {
  NotAvailableError,
  type Actor,
  type Environment,
  type ImageInfo,
  type Preview,
  type SlipwayApi,
  type SyncReport,
} from './slipway.js';
import type { ResponseThread } from './thread.js';

export interface Conversation {
  actor: Actor;
  api: SlipwayApi;
  thread: ResponseThread;
  follow: FollowOptions;
}

export interface Outcome {
  /** The immediate answer (the acknowledgement Slack shows within its 3 s). */
  now: string;
  /** Its buttons, when it asks for a confirmation. */
  blocks?: unknown[];
  /** The rest, through the response_url. */
  later?: () => Promise<void>;
}

const READS = new Set<ChatCommand['verb']>(['help', 'status', 'history', 'sync']);
/** Clusters a status without a service shows (a Slack message's screenful, as `slipway status`'s). */
const STATUS_SHOWN = 40;

export function roleNeeded(command: ChatCommand): Role {
  return READS.has(command.verb) ? 'reader' : 'deployer';
}

/** The refusal for a person whose role is not enough, or undefined. */
export function refusal(actor: Actor, verb: string, needed: Role): string | undefined {
  if (roleAllows(actor.role, needed)) return undefined;
  return `:no_entry: ${actor.subject} is a ${actor.role} in Slipway: ${verb} needs the ${needed} role.`;
}

/** A failed call in one line: the service's own words (problem+json detail). */
export function failure(error: unknown): string {
  if (error instanceof NotAvailableError) return `:construction: not available yet: ${error.message}`;
  // What reaches here is an Error: core's problem classes from unwrap(), or fetch's own.
  return `:warning: ${(error as Error).message}`;
}

export async function runCommand(command: ChatCommand, c: Conversation): Promise<Outcome> {
  const { api, thread } = c;
  const denied = refusal(c.actor, command.verb, roleNeeded(command));
  if (denied) return { now: denied };
  /** Ask first: a refusal is the answer. Accepted, say so and follow later in the same message. */
  async function asked<T>(
    ask: () => Promise<T>,
    said: (started: T) => string,
    follow?: (started: T) => Promise<unknown>,
  ): Promise<Outcome> {
    let started: T;
    try {
      started = await ask();
    } catch (error) {
      return { now: failure(error) };
    }
    return {
      now: said(started),
      ...(follow
        ? {
            later: () =>
              follow(started).then(
                () => undefined,
                (error: unknown) => thread.finish(failure(error)),
              ),
          }
        : {}),
    };
  }
  const followed = ({ id }: { id: string }) => followDeployment(api, id, thread, c.follow);
  /**
   * A change moves production only on purpose: the orchestrator's preview first (its refusal is the
   * answer); production is answered with it and a Confirm button; anything else is made at once
   * carrying the preview's confirmation (so it does what was previewed, or nothing), then said and
   * followed as any change.
   */
  const onPurpose = async (change: Change, said: (started: Started) => string): Promise<Outcome> => {
    let preview: Preview;
    try {
      preview = await previewOf(c, change);
    } catch (error) {
      return { now: failure(error) };
    }
    if (preview.confirmationRequired) {
      const { text, blocks } = confirmMessage(preview, change);
      return { now: text, ...(blocks ? { blocks } : {}) };
    }
    const release = change.verb === 'release' || change.verb === 'promote';
    return asked(() => startChange(c, change, preview.confirmation), said, release ? undefined : followed);
  };

  switch (command.verb) {
    case 'help':
      return { now: HELP };
    case 'status': {
      if (command.service && command.env) {
        const [e, images] = await Promise.all([
          api.environment(command.service, command.env),
          imagesOf(api, [command.service]),
        ]);
        const nothing = !e.active && e.retained.length === 0 && !e.deploying && !e.deployments?.length;
        return { now: nothing ? await nothingAt(api, command.service, command.env) : describeEnvironment(e, images) };
      }
      // A screenful, those needing attention first (as `slipway status`), or the service's clusters alone.
      const { items: clusters, total } = await api.clusters(
        command.service ? { service: [command.service] } : { order: 'attention', limit: STATUS_SHOWN },
      );
      // Each active group says its version: a service's images are read only for one that does not (an older record).
      const shown = describeClusters(
        clusters,
        await imagesOf(
          api,
          clusters.filter((cl) => cl.active?.image && !cl.active.version).map((cl) => cl.service),
        ),
      );
      if (command.service && clusters.length === 0) return { now: await nothingAt(api, command.service) };
      return {
        now:
          total > clusters.length
            ? `${shown}\n_${clusters.length} of ${total} clusters, those needing attention first: \`/slipway status SERVICE\` for one service's_`
            : shown,
      };
    }
    case 'history': {
      const items = await api.deployments(command.service, command.env);
      if (items.length === 0)
        return { now: `no deployments of ${command.service}${command.env ? ` ${command.env}` : ''}` };
      return {
        now: items
          .map(
            (d) =>
              `\`${d.id}\` ${d.env} ${d.image}${d.context.imageVersion ? ` ${d.context.imageVersion}` : ''}${d.context.sourceCommit ? ` (source ${d.context.sourceCommit.slice(0, 12)})` : ''} *${d.state}* ${d.createdAt.slice(0, 16).replace('T', ' ')} ${d.by}${d.via ? ` (via ${d.via})` : ''}: ${d.message}`,
          )
          .join('\n'),
      };
    }
    case 'sync':
      return { now: describeSync(await api.sync()) };
    case 'deploy': {
      const { service, env } = command;
      const what = 'image' in command ? { image: command.image } : { version: command.version };
      let image: ImageInfo | undefined;
      let clusters: string[] | undefined;
      try {
        // A sync set's name is a release to its clusters, resolved as the CLI and the API resolve it.
        const target = await api.resolve(service, env);
        if (target.kind === 'set') clusters = target.clusters;
        else image = await imageFor(api, service, what);
      } catch (error) {
        return { now: failure(error) };
      }
      if (clusters) {
        const where = clusters.join(', ');
        return onPurpose(
          { verb: 'release', request: { message: command.message, env, items: [{ service, ...what }] } },
          (started) =>
            `${describeRelease(started)} (${service} ${'image' in what ? what.image : what.version} to ${env}: ${where})`,
        );
      }
      return onPurpose(
        {
          verb: 'deploy',
          request: {
            service,
            env,
            image: image!.id,
            message: command.message,
            ...(command.ref ? { configRef: command.ref } : {}),
            ...(command.strategy ? { strategy: command.strategy } : {}),
            ...(command.queue ? { queue: true } : {}),
          },
        },
        (started) => `:rocket: deploying ${service} ${label(image)} to ${env} [${started.id}]…`,
      );
    }
    case 'undo':
      return onPurpose(
        { verb: 'undo', service: command.service, env: command.env, message: command.message },
        (started) =>
          `:leftwards_arrow_with_hook: undoing ${command.service} ${command.env}: back to the previous release [${started.id}]…`,
      );
    case 'pause':
    case 'resume':
    case 'cancel':
    case 'rollback': {
      const verb = command.verb;
      return asked(
        () => api.control(verb, command.id),
        () =>
          verb === 'pause'
            ? `:double_vertical_bar: ${command.id}: pause asked; it stops after the running action`
            : `${verb} ${command.id}…`,
        verb === 'pause' ? undefined : () => followDeployment(api, command.id, thread, c.follow),
      );
    }
    case 'bake': {
      const what = command.service === 'base' ? 'a new base image' : `${command.service} ${command.version}`;
      return asked(
        () => api.bake(command.service, command.version),
        (started) =>
          'image' in started
            ? `:white_check_mark: ${what} is baked already: ${started.image}`
            : `:bread: baking ${what} [${started.id}]…`,
        (started) => ('image' in started ? Promise.resolve() : followBake(api, started.id, thread, c.follow)),
      );
    }
    case 'release':
      return onPurpose(
        {
          verb: 'release',
          request: { message: command.message, items: command.items, ...(command.env ? { env: command.env } : {}) },
        },
        describeRelease,
      );
    case 'promote':
      // The orchestrator resolves the image serving in `from` now (a release item's `from`).
      return onPurpose(
        {
          verb: 'promote',
          request: {
            message: command.message,
            env: command.to,
            items: [
              {
                service: command.service,
                from: command.from,
                ...(command.afterSeconds !== undefined ? { afterSeconds: command.afterSeconds } : {}),
              },
            ],
          },
        },
        describeRelease,
      );
  }
}

/** An image id, or the newest image of a version: the CLI's `deploy search prod 1.4.0`. */
async function imageFor(api: SlipwayApi, service: string, what: { image: string } | { version: string }) {
  const images = await api.images(service);
  if ('image' in what) return images.find((i) => i.id === what.image) ?? { id: what.image, createdAt: '' };
  const newest = images.find((i) => i.version === what.version);
  if (!newest)
    throw new Error(
      `${service} has no image of version ${what.version}: bake one with \`/slipway bake ${service} ${what.version}\``,
    );
  return newest;
}

/** `img-2f9c… (1.4.0)`: an image as a person reads it. */
const label = (image: ImageInfo | undefined, id = image?.id ?? '') =>
  `${id}${image?.version ? ` (${image.version})` : ''}`;

/**
 * What a status of nothing says: the orchestrator answers any cluster asked about (one never
 * deployed, of a service not registered), so a typo is said as it resolves the name — its
 * refusal in its words — and a real name as nothing deployed there.
 */
async function nothingAt(api: SlipwayApi, service: string, env?: string): Promise<string> {
  try {
    await api.resolve(service, env ?? service);
  } catch (error) {
    return failure(error);
  }
  return env
    ? `nothing deployed to ${service} ${env}: \`/slipway status ${service}\` says where ${service} runs`
    : `${service} is deployed nowhere yet`;
}

/** The image a group runs as its answer says it (its version, as the deployment recorded it). */
const said = (group: { image?: string; version?: string }): ImageInfo | undefined =>
  group.image && group.version ? { id: group.image, version: group.version, createdAt: '' } : undefined;

/** Each service's images by id, to show an id with its version; a service whose images cannot be read shows ids alone. */
async function imagesOf(api: SlipwayApi, services: string[]): Promise<Map<string, ImageInfo>> {
  const lists = await Promise.all([...new Set(services)].map((s) => api.images(s).catch(() => [] as ImageInfo[])));
  return new Map(lists.flat().map((i) => [i.id, i]));
}

function health(e: Environment): string {
  return `${e.health.healthy ?? 0}/${e.health.instances ?? 0} healthy`;
}

export function describeClusters(items: Environment[], images = new Map<string, ImageInfo>()): string {
  if (items.length === 0) return 'no clusters deployed yet';
  return items
    .map(
      (e) =>
        `*${e.service} ${e.env}* ${e.active ? `${e.active.name} ${label(images.get(e.active.image ?? '') ?? said(e.active), e.active.image ?? '')}` : 'nothing in service'} — ${health(e)}${e.deploying ? ` — deploying \`${e.deploying}\`` : ''}`,
    )
    .join('\n');
}

export function describeEnvironment(e: Environment, images = new Map<string, ImageInfo>()): string {
  const lines = [`*${e.service} ${e.env}* — ${health(e)}${e.deploying ? ` — deploying \`${e.deploying}\`` : ''}`];
  for (const g of [e.active, ...e.retained].filter((g) => g !== null)) {
    const states = g.instances.map((i) => i.health);
    lines.push(
      `${g.disabled ? ':white_circle:' : ':large_green_circle:'} ${g.name} ${g.disabled ? 'out of service' : 'in service'} ${label(images.get(g.image ?? ''), g.image ?? '')}${g.commit ? ` config ${g.commit.slice(0, 12)}` : ''} — ${states.length} instance${states.length === 1 ? '' : 's'}${states.length ? `: ${states.join(', ')}` : ''}`,
    );
  }
  return lines.join('\n');
}

function describeSync(answer: SyncReport): string {
  const sets = answer.items;
  if (answer.inSync || sets.every((s) => s.inSync))
    return ':white_check_mark: every sync set runs one image in all its clusters';
  return sets
    .filter((s) => !s.inSync)
    .map(
      (s) =>
        `:warning: *${s.service} ${s.set}* out of sync: ${s.clusters.map((c) => `${c.env} ${c.version ?? c.image ?? 'nothing'}${c.odd ? ' (odd one)' : ''}`).join(', ')}`,
    )
    .join('\n');
}
