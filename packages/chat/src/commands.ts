/**
 * What each `/slipway` command does for one person: reads answer at once; what changes something
 * is acknowledged at once ("deploying search img-… to prod…") and then asked of Slipway and
 * followed in the same message until it ends. The person's role is checked first, for a clear
 * refusal; the services check it again (the calls act as that person).
 */
import { roleAllows, type Role } from '@slipway/core';
import { confirmMessage, makeChange, previewOf, type Change } from './changes.js';
import { HELP, type ChatCommand } from './grammar.js';
import { followBake, followDeployment, type FollowOptions } from './follow.js';
import { NotAvailableError, type Actor, type Environment, type SlipwayApi, type SyncReport } from './slipway.js';
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
  /** Acknowledge now; ask and follow later, telling the same message what happened. */
  const act = (now: string, work: () => Promise<void>): Outcome => ({
    now,
    later: () => work().catch((error: unknown) => thread.finish(failure(error))),
  });
  /**
   * A change moves production only on purpose: the orchestrator's preview first; production is
   * answered with it and a Confirm button, anything else is acknowledged and made at once, carrying
   * the preview's confirmation (so it does what was previewed, or nothing).
   */
  const onPurpose = async (change: Change, acknowledgement: string): Promise<Outcome> => {
    const preview = await previewOf(c, change);
    if (preview.confirmationRequired) {
      const { text, blocks } = confirmMessage(preview, change);
      return { now: text, ...(blocks ? { blocks } : {}) };
    }
    return act(acknowledgement, () => makeChange(c, change, preview.confirmation));
  };

  switch (command.verb) {
    case 'help':
      return { now: HELP };
    case 'status':
      if (command.service && command.env)
        return { now: describeEnvironment(await api.environment(command.service, command.env)) };
      return {
        now: describeClusters(
          (await api.clusters()).filter((cl) => !command.service || cl.service === command.service),
        ),
      };
    case 'history': {
      const items = await api.deployments(command.service, command.env);
      if (items.length === 0)
        return { now: `no deployments of ${command.service}${command.env ? ` ${command.env}` : ''}` };
      return {
        now: items
          .map(
            (d) =>
              `\`${d.id}\` ${d.env} ${d.image}${d.context.sourceCommit ? ` (source ${d.context.sourceCommit.slice(0, 12)})` : ''} *${d.state}* ${d.createdAt.slice(0, 16).replace('T', ' ')} ${d.by}${d.via ? ` (via ${d.via})` : ''}: ${d.message}`,
          )
          .join('\n'),
      };
    }
    case 'sync':
      return { now: describeSync(await api.sync()) };
    case 'deploy': {
      // A sync set's name is a release to its clusters, resolved as the CLI and the API resolve it.
      const target = await api.resolve(command.service, command.env);
      if (target.kind === 'set') {
        const what = /^(img|ami)-/.test(command.image) ? { image: command.image } : { version: command.image };
        return onPurpose(
          {
            verb: 'release',
            request: { message: command.message, env: command.env, items: [{ service: command.service, ...what }] },
          },
          `:package: releasing ${command.service} ${command.image} to ${command.env} (${target.clusters.join(', ')})…`,
        );
      }
      return onPurpose(
        {
          verb: 'deploy',
          request: {
            service: command.service,
            env: command.env,
            image: command.image,
            message: command.message,
            ...(command.ref ? { configRef: command.ref } : {}),
            ...(command.strategy ? { strategy: command.strategy } : {}),
            ...(command.queue ? { queue: true } : {}),
          },
        },
        `:rocket: deploying ${command.service} ${command.image} to ${command.env}…`,
      );
    }
    case 'undo':
      return onPurpose(
        { verb: 'undo', service: command.service, env: command.env, message: command.message },
        `:leftwards_arrow_with_hook: undoing ${command.service} ${command.env}: back to the previous release…`,
      );
    case 'pause':
    case 'resume':
    case 'cancel':
    case 'rollback':
      return act(`${command.verb} ${command.id}…`, async () => {
        await api.control(command.verb, command.id);
        if (command.verb === 'pause') {
          await thread.finish(`:double_vertical_bar: ${command.id}: pause asked; it stops after the running action`);
          return;
        }
        await followDeployment(api, command.id, thread, c.follow);
      });
    case 'bake':
      return act(
        `:bread: baking ${command.service === 'base' ? 'a new base image' : `${command.service} ${command.version}`}…`,
        async () => {
          const started = await api.bake(command.service, command.version);
          if ('image' in started) {
            await thread.finish(
              `:white_check_mark: ${command.service} ${command.version} is baked already: ${started.image}`,
            );
            return;
          }
          await followBake(api, started.id, thread, c.follow);
        },
      );
    case 'release':
      return onPurpose(
        {
          verb: 'release',
          request: { message: command.message, items: command.items, ...(command.env ? { env: command.env } : {}) },
        },
        `:package: releasing ${command.items.map((i) => `${i.service} ${i.image ?? i.version}`).join(', ')}…`,
      );
    case 'promote':
      // The orchestrator resolves the image serving in `from` now (a release item's `from`).
      return onPurpose(
        {
          verb: 'promote',
          request: {
            message: command.message,
            env: command.to,
            items: [{ service: command.service, from: command.from }],
          },
        },
        `:arrow_up: promoting ${command.service} from ${command.from} to ${command.to}…`,
      );
  }
}

function health(e: Environment): string {
  return `${e.health.healthy ?? 0}/${e.health.instances ?? 0} healthy`;
}

export function describeClusters(items: Environment[]): string {
  if (items.length === 0) return 'no clusters deployed yet';
  return items
    .map(
      (e) =>
        `*${e.service} ${e.env}* ${e.active ? `${e.active.name} ${e.active.image ?? ''}` : 'nothing in service'} — ${health(e)}${e.deploying ? ` — deploying \`${e.deploying}\`` : ''}`,
    )
    .join('\n');
}

export function describeEnvironment(e: Environment): string {
  const lines = [`*${e.service} ${e.env}* — ${health(e)}${e.deploying ? ` — deploying \`${e.deploying}\`` : ''}`];
  for (const g of [e.active, ...e.retained].filter((g) => g !== null)) {
    const states = g.instances.map((i) => i.health);
    lines.push(
      `${g.disabled ? ':white_circle:' : ':large_green_circle:'} ${g.name} ${g.disabled ? 'out of service' : 'in service'} ${g.image ?? ''}${g.commit ? ` config ${g.commit.slice(0, 12)}` : ''} — ${states.length} instance${states.length === 1 ? '' : 's'}${states.length ? `: ${states.join(', ')}` : ''}`,
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
