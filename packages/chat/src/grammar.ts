/**
 * `/slipway …`: the CLI's grammar (@slipway/grammar, the one both faces share), read from the
 * text Slack sends. Words split like a shell's (Slack's curly quotes quote too), options parsed by
 * Node's parseArgs; every name, image, version and id is checked before anything is asked.
 */
import {
  deploymentId,
  durationSeconds,
  envName,
  GrammarError,
  imageOrVersion,
  isVersion,
  message as reason,
  releaseItem,
  serviceName,
  strategy as strategyNamed,
  usageOf,
  VERBS,
  words as splitWords,
  type ImageOrVersion,
  type Strategy,
} from '@slipway/grammar';
import { parseArgs } from 'node:util';

export type Control = 'pause' | 'resume' | 'cancel' | 'rollback';
export type { Strategy };

export type ReleaseItem = { service: string } & ImageOrVersion;

export type ChatCommand =
  | { verb: 'help' }
  | { verb: 'status'; service?: string; env?: string }
  | { verb: 'history'; service: string; env?: string }
  | ({
      verb: 'deploy';
      service: string;
      env: string;
      message: string;
      ref?: string;
      strategy?: Strategy;
      queue: boolean;
    } & ImageOrVersion)
  | { verb: 'release'; items: ReleaseItem[]; env?: string; message: string }
  | { verb: 'promote'; service: string; from: string; to: string; message: string; afterSeconds?: number }
  | { verb: 'undo'; service: string; env: string; message: string }
  | { verb: Control; id: string }
  | { verb: 'bake'; service: string; version?: string }
  | { verb: 'sync' };

/** A command that cannot be read: its message says how to write it. */
export class UsageError extends Error {}

export const HELP = [
  '*/slipway* — the `slipway` command line, from Slack:',
  ...Object.values(VERBS).map((v) => `\`${v.usage}\`${v.says ? ` ${v.says}` : ''}`),
].join('\n');

/** The grammar's refusals as this face's usage errors. */
function said<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof GrammarError) throw new UsageError(error.message);
    throw error;
  }
}

export const words = (text: string) => said(() => splitWords(text));

function service(name: string | undefined, verb: string): string {
  if (!name) throw new UsageError(`${verb} needs a service: ${usageOf(verb)}`);
  return said(() => serviceName(name));
}

function env(name: string | undefined, verb: string): string {
  if (!name) throw new UsageError(`${verb} needs an environment: ${usageOf(verb)}`);
  return said(() => envName(name));
}

const message = (value: string | undefined, verb: string) => said(() => reason(value, verb));

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
        after: { type: 'string' },
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
      const given = args[2];
      if (!given) throw new UsageError(`deploy needs an image or a version: ${usageOf(verb)}`);
      const what = said(() => imageOrVersion(given));
      const strategy = values.strategy === undefined ? undefined : said(() => strategyNamed(values.strategy!));
      return {
        verb,
        service: service(args[0], verb),
        env: env(args[1], verb),
        ...what,
        message: message(values.message, verb),
        ...(values.ref ? { ref: values.ref } : {}),
        ...(strategy ? { strategy } : {}),
        queue: values.queue === true,
      };
    }
    case 'release': {
      if (args.length === 0) throw new UsageError(`release needs at least one service@version: ${usageOf(verb)}`);
      return {
        verb,
        items: args.map((arg) => said(() => releaseItem(arg))),
        ...(values.env ? { env: env(values.env, verb) } : {}),
        message: message(values.message, verb),
      };
    }
    case 'promote': {
      extra(3);
      const after = values.after === undefined ? undefined : said(() => durationSeconds(values.after!));
      return {
        verb,
        service: service(args[0], verb),
        from: env(args[1], verb),
        to: env(args[2], verb),
        message: values.message?.trim() ? message(values.message, verb) : `promote from ${args[1]}`,
        ...(after !== undefined ? { afterSeconds: after } : {}),
      };
    }
    case 'undo':
      extra(2);
      return { verb, service: service(args[0], verb), env: env(args[1], verb), message: message(values.message, verb) };
    case 'pause':
    case 'resume':
    case 'cancel':
    case 'rollback': {
      extra(1);
      const id = args[0];
      if (!id) throw new UsageError(`${verb} needs a deployment id (dep-…): ${usageOf(verb)}`);
      return { verb, id: said(() => deploymentId(id)) };
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
