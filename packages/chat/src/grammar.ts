/**
 * `/slipway …`: the CLI's grammar, read from the text Slack sends. Words split like a shell's
 * (Slack turns typed quotes into curly ones, so those quote too), options parsed by Node's
 * parseArgs; every name is checked against the naming rules before anything is asked.
 */
import { ENV_NAME_RULE, isEnvName, isServiceName, isVersion, SERVICE_NAME_RULE } from '@slipway/core';
import { parseArgs } from 'node:util';

export type Control = 'pause' | 'resume' | 'cancel' | 'rollback';
export type Strategy = 'red-black' | 'progressive' | 'highlander';

export interface ReleaseItem {
  service: string;
  image?: string;
  version?: string;
}

export type ChatCommand =
  | { verb: 'help' }
  | { verb: 'status'; service?: string; env?: string }
  | { verb: 'history'; service: string; env?: string }
  | {
      verb: 'deploy';
      service: string;
      env: string;
      image: string;
      message: string;
      ref?: string;
      strategy?: Strategy;
      queue: boolean;
    }
  | { verb: 'release'; items: ReleaseItem[]; env?: string; message: string }
  | { verb: 'promote'; service: string; from: string; to: string; message: string }
  | { verb: 'undo'; service: string; env: string; message: string }
  | { verb: Control; id: string }
  | { verb: 'bake'; service: string; version?: string }
  | { verb: 'sync' };

/** A command that cannot be read: its message says how to write it. */
export class UsageError extends Error {}

export const HELP = [
  '*/slipway* — the `slipway` command line, from Slack:',
  '`status [service] [env]` clusters, or one: groups, instances, health',
  '`history <service> [env]` deployments, newest first',
  '`deploy <service> <env> <image> -m "why"` [--ref <config ref>] [--strategy red-black|progressive|highlander] [--queue]',
  '`release <service>@<image or version>… [--env <env>] -m "why"` several services, in dependency order, in waves',
  '`promote <service> <from env> <to env> [-m "why"]` deploy what runs in one environment to another',
  '`undo <service> <env> -m "why"` the previous release again',
  '`rollback|pause|resume|cancel <deployment id>`',
  '`bake base` or `bake <service> <version>`',
  '`sync` clusters of a sync set that do not run the same image',
  '`help` this',
].join('\n');

const QUOTES: Record<string, string> = { '"': '"', "'": "'", '“': '”', '”': '”', '‘': '’', '’': '’' };

/** Splits text into words as a shell would: quotes group, a backslash escapes. */
export function words(text: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else current = (current ?? '') + c;
    } else if (c in QUOTES) {
      quote = QUOTES[c];
      current ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      current = (current ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (current !== undefined) out.push(current);
      current = undefined;
    } else current = (current ?? '') + c;
  }
  if (quote) throw new UsageError(`a quote is not closed: ${text}`);
  if (current !== undefined) out.push(current);
  return out;
}

const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DEPLOYMENT_ID = /^dep-[0-9a-z]{6,24}$/;
const STRATEGIES: readonly Strategy[] = ['red-black', 'progressive', 'highlander'];

function service(name: string | undefined, verb: string): string {
  if (!name) throw new UsageError(`${verb} needs a service: ${usageOf(verb)}`);
  if (!isServiceName(name)) throw new UsageError(`'${name}' is not a service name (${SERVICE_NAME_RULE})`);
  return name;
}

function env(name: string | undefined, verb: string): string {
  if (!name) throw new UsageError(`${verb} needs an environment: ${usageOf(verb)}`);
  if (!isEnvName(name)) throw new UsageError(`'${name}' is not an environment name (${ENV_NAME_RULE})`);
  return name;
}

function message(value: string | undefined, verb: string): string {
  if (!value?.trim()) throw new UsageError(`${verb} needs a reason: -m "why" (it goes in the record)`);
  if (value.length > 1000) throw new UsageError('the message is longer than 1000 characters');
  return value;
}

function usageOf(verb: string): string {
  return HELP.split('\n').find((l) => l.startsWith(`\`${verb} `) || l.includes(`|${verb}`)) ?? '/slipway help';
}

export function parseCommand(text: string): ChatCommand {
  const [verb = 'help', ...rest] = words(text);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        message: { type: 'string', short: 'm' },
        ref: { type: 'string' },
        strategy: { type: 'string' },
        queue: { type: 'boolean' },
        env: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]}: ${usageOf(verb)}`);
  }
  const { values, positionals: args } = parsed;
  const extra = (count: number) => {
    if (args.length > count) throw new UsageError(`too many words after ${verb}: ${usageOf(verb)}`);
  };
  switch (verb) {
    case 'help':
      return { verb: 'help' };
    case 'status':
      extra(2);
      return {
        verb,
        ...(args[0] ? { service: service(args[0], verb) } : {}),
        ...(args[1] ? { env: env(args[1], verb) } : {}),
      };
    case 'history':
      extra(2);
      return { verb, service: service(args[0], verb), ...(args[1] ? { env: env(args[1], verb) } : {}) };
    case 'deploy': {
      extra(3);
      const image = args[2];
      if (!image) throw new UsageError(`deploy needs an image: ${usageOf(verb)}`);
      if (!IMAGE.test(image)) throw new UsageError(`'${image}' is not an image id`);
      const strategy = values.strategy as Strategy | undefined;
      if (strategy !== undefined && !STRATEGIES.includes(strategy))
        throw new UsageError(`--strategy is one of ${STRATEGIES.join(', ')}`);
      return {
        verb,
        service: service(args[0], verb),
        env: env(args[1], verb),
        image,
        message: message(values.message, verb),
        ...(values.ref ? { ref: values.ref } : {}),
        ...(strategy ? { strategy } : {}),
        queue: values.queue === true,
      };
    }
    case 'release': {
      if (args.length === 0) throw new UsageError(`release needs at least one service@version: ${usageOf(verb)}`);
      const items = args.map((arg) => {
        // The CLI's service@version; service=image reads as well.
        const at = arg.search(/[@=]/);
        const [name, what] = at < 0 ? [arg, ''] : [arg.slice(0, at), arg.slice(at + 1)];
        if (!what) throw new UsageError(`'${arg}' is not service@version or service@image`);
        const item: ReleaseItem = { service: service(name, verb) };
        if (/^(img|ami)-/.test(what) && IMAGE.test(what)) item.image = what;
        else if (isVersion(what)) item.version = what;
        else throw new UsageError(`'${what}' is neither an image id nor a version`);
        return item;
      });
      return {
        verb,
        items,
        ...(values.env ? { env: env(values.env, verb) } : {}),
        message: message(values.message, verb),
      };
    }
    case 'promote':
      extra(3);
      return {
        verb,
        service: service(args[0], verb),
        from: env(args[1], verb),
        to: env(args[2], verb),
        message: values.message?.trim() ? message(values.message, verb) : `promote from ${args[1]}`,
      };
    case 'undo':
      extra(2);
      return { verb, service: service(args[0], verb), env: env(args[1], verb), message: message(values.message, verb) };
    case 'pause':
    case 'resume':
    case 'cancel':
    case 'rollback': {
      extra(1);
      const id = args[0];
      if (!id || !DEPLOYMENT_ID.test(id))
        throw new UsageError(`${verb} needs a deployment id (dep-…): ${usageOf(verb)}`);
      return { verb, id };
    }
    case 'bake': {
      extra(2);
      if (args[0] === 'base') {
        extra(1);
        return { verb, service: 'base' };
      }
      const version = args[1];
      if (!version || !isVersion(version)) throw new UsageError(`bake needs a version: ${usageOf(verb)}`);
      return { verb, service: service(args[0], verb), version };
    }
    case 'sync':
      extra(0);
      return { verb };
    default:
      throw new UsageError(`no command '${verb}'. ${HELP}`);
  }
}
