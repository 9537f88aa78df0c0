/**
 * Service and environment names as the user typed them: asked for when missing (with a
 * terminal), refused in words when malformed (exit 2), and an error naming the nearest known
 * name when there is no such thing (exit 1) — before any command acts on them.
 */
import { durationSeconds, envName, GrammarError, imageOrVersion, serviceName } from '@slipway/grammar';
import { syncSets } from '@slipway/metadata-api';
import { answer, client, unreachable } from './api.js';
import { CliError } from './errors.js';
import { choose } from './prompt.js';

/** The shared grammar's refusals (@slipway/grammar, Slack's too) as usage errors: exit 2. */
export function grammar<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof GrammarError) throw new CliError(error.message, true);
    throw error;
  }
}

/** An option's duration (`--burn-in 2m`: 120), or a usage error naming the option; undefined when not given. */
export function optionSeconds(option: string, given: string | undefined): number | undefined {
  if (given === undefined) return undefined;
  try {
    return durationSeconds(given);
  } catch (error) {
    if (error instanceof GrammarError) throw new CliError(`${option} ${error.message}`, true);
    throw error;
  }
}

/** Every registered service, 1,000 a page (the most the metadata service answers at once), in name order. */
export async function registeredServices() {
  const items: Awaited<ReturnType<typeof servicePage>>['items'] = [];
  let cursor: string | undefined;
  do {
    const page = await servicePage(cursor);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

const servicePage = (cursor?: string) =>
  answer(
    client('metadata').GET('/services', { params: { query: { limit: 1000, ...(cursor ? { cursor } : {}) } } }),
    'metadata',
  );

/** Every registered service's name: a choice offered, or the nearest to a typo. */
export async function serviceNames(): Promise<string[]> {
  return (await registeredServices()).map((s) => s.name);
}

/** Whether the service is registered: one read of it, never the list of every service. */
async function registered(name: string): Promise<boolean> {
  let read;
  try {
    read = await client('metadata').GET('/services/{name}', { params: { path: { name } } });
  } catch (error) {
    throw unreachable('metadata', error);
  }
  if (read.response.status === 404) return false;
  await answer(Promise.resolve(read), 'metadata');
  return true;
}

export async function environments(service: string): Promise<string[]> {
  return (await answer(client('config').GET('/config/{service}', { params: { path: { service } } }), 'config'))
    .environments;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

export function nearest(name: string, known: string[]): string | undefined {
  const scored = known
    .map((k) => ({ k, d: k.startsWith(name) || name.startsWith(k) ? 1 : distance(name, k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d);
  return scored[0]?.k;
}

function noSuch(what: string, name: string, known: string[], listing: string): CliError {
  const near = nearest(name, known);
  return new CliError(`there is no ${what} ${name}${near ? `; did you mean ${near}?` : ''} (${listing})`);
}

function wellFormed(what: 'service' | 'environment', name: string): void {
  grammar(() => (what === 'service' ? serviceName(name) : envName(name)));
}

/** An image as given to deploy or release: an image id (`img-…`, `ami-…`) or a version (`1.4.0`). */
export function wellFormedImage(given: string): string {
  grammar(() => imageOrVersion(given));
  return given;
}

/** A registered service: the one given, else chosen on a terminal. */
export async function knownService(given?: string): Promise<string> {
  if (!given) return choose('service', serviceNames);
  wellFormed('service', given);
  if (!(await registered(given))) throw noSuch('service', given, await serviceNames(), 'slipway services list');
  return given;
}

/**
 * A registered service named before its environment; when it is not one, a swap (`deploy prod
 * search`: an environment of a registered service first) is said as such, a usage error.
 */
export async function knownServiceBefore(given: string | undefined, env: string | undefined, verb: string) {
  try {
    return await knownService(given);
  } catch (error) {
    if (!(error instanceof CliError) || !given || !env || error.usage) throw error;
    const swapped =
      (await registered(env).catch(() => false)) && (await environments(env).catch((): string[] => [])).includes(given);
    // What follows the environment: deploy and undo take more (an image, a message); status takes nothing.
    const more = verb === 'deploy' || verb === 'undo' ? ' …' : '';
    if (swapped)
      throw new CliError(
        `${given} is an environment of ${env}: the service comes first (slipway ${verb} ${env} ${given}${more})`,
        true,
      );
    throw error;
  }
}

/** Registered services, each one given (a release's items): the first that is not, named with the nearest. */
export async function knownServices(given: string[]): Promise<void> {
  given.forEach((name) => wellFormed('service', name));
  const known = await Promise.all(given.map(registered));
  const unknown = given.find((_, i) => !known[i]);
  if (unknown) throw noSuch('service', unknown, await serviceNames(), 'slipway services list');
}

/** An environment the service has configuration for: the one given, else chosen on a terminal. */
export async function knownEnv(service: string, given?: string): Promise<string> {
  if (!given) return choose('environment', () => environments(service));
  wellFormed('environment', given);
  const envs = await environments(service);
  if (!envs.includes(given)) {
    const near = nearest(given, envs);
    throw new CliError(
      `${service} has no environment ${given}${near ? `; did you mean ${near}?` : ''} (it has ${envs.join(', ') || 'none'})`,
    );
  }
  return given;
}

/**
 * An environment or a sync set of the service, as a deploy, release or promote takes it; else an
 * error naming the nearest of both (asked only once a request was refused: no request otherwise).
 */
export async function knownTarget(service: string, given: string): Promise<string> {
  wellFormed('environment', given);
  const [envs, registered] = await Promise.all([
    environments(service),
    answer(client('metadata').GET('/services/{name}', { params: { path: { name: service } } }), 'metadata'),
  ]);
  const sets = [...syncSets(registered.metadata).keys()];
  if (envs.includes(given) || sets.includes(given)) return given;
  const near = nearest(given, [...envs, ...sets]);
  const has = `${envs.join(', ') || 'no environment'}${sets.length ? `; sync set${sets.length > 1 ? 's' : ''} ${sets.join(', ')}` : ''}`;
  throw new CliError(
    `${service} has no environment or sync set ${given}${near ? `; did you mean ${near}?` : ''} (it has ${has})`,
  );
}

/**
 * What a name means for a service — one cluster or a sync set and its clusters — as the
 * orchestrator resolves it for every face (a set named like an environment is refused there,
 * naming both).
 */
export async function resolveTarget(service: string, name: string) {
  wellFormed('environment', name);
  return answer(
    client('orchestrator').GET('/services/{service}/names/{name}', { params: { path: { service, name } } }),
    'orchestrator',
  );
}
