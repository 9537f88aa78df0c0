/**
 * Where the services are and how to ask them: typed clients (openapi-fetch over each service's
 * generated types), the token, and problem+json answers turned into one-line errors in the
 * user's words (the CLI's options and commands, never the API's paths and fields).
 *
 * Endpoints: SLIPWAY_<SERVICE>_URL, else SLIPWAY_URL (the port base, e.g. http://127.0.0.1:7100)
 * plus the service's offset. Token: SLIPWAY_TOKEN, else `slipway login`'s, else the local
 * platform's admin token ($SLIPWAY_HOME/admin-token).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import createClient, { type Client } from 'openapi-fetch';
import { CliError } from './errors.js';
import { ruleForPattern } from '@slipway/grammar';
import type { BakingPaths } from '@slipway/baking-api';
import type { ConfigPaths } from '@slipway/config-api';
import type { InfraPaths } from '@slipway/infra-api';
import type { MetadataPaths } from '@slipway/metadata-api';
import type { OrchestratorPaths } from '@slipway/orchestrator-api';

export const OFFSETS = { metadata: 1, config: 2, baking: 3, infra: 4, orchestrator: 5 } as const;
export type ServiceName = keyof typeof OFFSETS;

export { CliError };

export function loginFile(env = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'slipway', 'token');
}

/** The token and where it came from, to say so when a service refuses it. */
export function tokenChoice(env = process.env): { value: string; source: string } {
  if (env.SLIPWAY_TOKEN) return { value: env.SLIPWAY_TOKEN, source: 'SLIPWAY_TOKEN' };
  const login = loginFile(env);
  if (existsSync(login)) return { value: readFileSync(login, 'utf8').trim(), source: `slipway login (${login})` };
  const local = join(env.SLIPWAY_HOME ?? '.slipway', 'admin-token');
  if (existsSync(local)) return { value: readFileSync(local, 'utf8').trim(), source: `the local platform (${local})` };
  throw new CliError('no token: set SLIPWAY_TOKEN, run `slipway login`, or start the platform here (npm start)');
}

export const token = (env = process.env) => tokenChoice(env).value;

/** A service's URL and the variable that set it (for "cannot reach" messages). */
export function endpoint(service: ServiceName, env = process.env): { url: string; via: string } {
  const variable = `SLIPWAY_${service.toUpperCase()}_URL`;
  const own = env[variable];
  if (own) return { url: own.replace(/\/$/, ''), via: variable };
  const given = env.SLIPWAY_URL || `http://127.0.0.1:${env.SLIPWAY_PORT_BASE ?? 7100}`;
  const [from, value] = env.SLIPWAY_URL ? ['SLIPWAY_URL', given] : ['SLIPWAY_PORT_BASE', env.SLIPWAY_PORT_BASE];
  const unusable = (why: string) => new CliError(`${from} is not usable (${JSON.stringify(value)}): ${why}`);
  let base: URL;
  try {
    base = new URL(given);
  } catch {
    throw unusable('SLIPWAY_URL is like http://127.0.0.1:7100');
  }
  // Without a port, the scheme's own (80, 443) is the base the offsets are added to.
  const schemePort = base.protocol === 'https:' ? 443 : base.protocol === 'http:' ? 80 : undefined;
  if (schemePort === undefined) throw unusable('it must be http:// or https://');
  const port = Number(base.port || schemePort) + OFFSETS[service];
  if (port > 65535) throw unusable(`its port + ${OFFSETS[service]} is past 65535`);
  base.port = String(port);
  const via = env.SLIPWAY_URL
    ? `SLIPWAY_URL + ${OFFSETS[service]}`
    : env.SLIPWAY_PORT_BASE
      ? `SLIPWAY_PORT_BASE + ${OFFSETS[service]}`
      : `the default; set SLIPWAY_URL or ${variable}`;
  return { url: base.origin, via };
}

export const serviceUrl = (service: ServiceName, env = process.env) => endpoint(service, env).url;

interface Paths {
  metadata: MetadataPaths;
  config: ConfigPaths;
  baking: BakingPaths;
  infra: InfraPaths;
  orchestrator: OrchestratorPaths;
}

const clients = new Map<ServiceName, unknown>();

/**
 * A connection that breaks under a request (a kept-alive one the other side had just closed, a
 * proxy or load balancer cutting it) says so with these; a refused or unknown address does not.
 */
export function brokenConnection(error: unknown): boolean {
  const code = (error as { cause?: { code?: string } }).cause?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED';
}

/** fetch, asked once more when a read's connection broke under it: a GET is safe to ask twice. */
async function fetchOnce(request: Request): Promise<Response> {
  const again = request.method === 'GET' || request.method === 'HEAD' ? request.clone() : undefined;
  try {
    return await fetch(request);
  } catch (error) {
    if (!again || !brokenConnection(error)) throw error;
    return fetch(again);
  }
}

export function client<S extends ServiceName>(service: S): Client<Paths[S]> {
  let made = clients.get(service) as Client<Paths[S]> | undefined;
  if (!made) {
    made = createClient<Paths[S]>({
      baseUrl: serviceUrl(service),
      headers: { Authorization: `Bearer ${token()}` },
      fetch: fetchOnce,
    });
    clients.set(service, made);
  }
  return made;
}

export function unreachable(service: ServiceName, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  const { url, via } = endpoint(service);
  // The fetch error is kept as the cause: a follow tells a broken connection from no service at all.
  return Object.assign(
    new CliError(
      `cannot reach the ${service} service at ${url} (${via})${cause ? `: ${cause}` : ''}. Is the platform running (npm start)?`,
    ),
    { cause: error },
  );
}

/** API field names as the CLI's user knows them. */
const FIELD_WORDS: Record<string, string> = {
  id: 'id',
  name: 'service name',
  service: 'service name',
  env: 'environment name',
  key: 'property name',
  version: 'version',
  from: '--from',
  to: '--to',
  ref: '--ref',
  configRef: '--ref',
  message: 'the message (-m)',
  queue: '--queue',
  image: 'image',
  strategy: '--strategy',
  burnInSeconds: '--burn-in',
};

/**
 * The refusals the services name with a stable `code` (and its facts, `args`), in the CLI's words:
 * its commands and options where the API's `detail` names requests and fields. Every detail that
 * names a request has a code here; any other detail is shown as the service wrote it.
 */
const ANOTHER_VERSION = 'the service does not know this request: the CLI and the platform are of different versions';
const REGIONS = (image: string | undefined) =>
  `baking's POST /images/${image}/regions; slipway has no command for it yet`;
const CODE_WORDS: Record<string, (args: Record<string, string>) => string> = {
  'no-base-image': () => 'there is no base image yet: bake one first (slipway bake base)',
  'no-artifact': (a) => `no artifact ${a.service} ${a.version}: upload it first (slipway build ${a.service})`,
  'cluster-busy': (a) => `${a.service} ${a.env} is being deployed by ${a.deployment}: wait for it, or ask with --queue`,
  'service-image-quota': (a) =>
    `the images of ${a.service} take ${a.used} of its quota of ${a.quota}: deregister old ones (slipway images ${a.service} lists them) or lower SLIPWAY_IMAGE_RETENTION before baking again`,
  'image-quota': (a) =>
    `images take ${a.used} of the image store's quota of ${a.quota}: deregister old ones (slipway images lists them) before baking again`,
  'service-not-registered': (a) =>
    `service ${a.service} is not registered: register it with slipway services add ${a.service} owner=<team>`,
  'set-not-cluster': (a) =>
    `${a.set} is a sync set of ${a.service} (${a.clusters}), not one cluster: name one of its clusters, or release to the set with slipway deploy ${a.service} ${a.set} <image>`,
  'no-image-in-region': (a) => `image ${a.image} has no AMI in ${a.region}: copy it there first (${REGIONS(a.image)})`,
  'image-region-unusable': (a) =>
    `image ${a.image}'s AMI in ${a.region}, ${a.ami}, is ${a.state}: copy it there again (${REGIONS(a.image)})`,
  'no-route': () => ANOTHER_VERSION,
  'method-not-allowed': () => ANOTHER_VERSION,
};

/** A problem+json answer as a sentence for a person. */
export function inWords(status: number, problem: Record<string, unknown> | undefined): string {
  const errors = Array.isArray(problem?.errors) ? (problem.errors as { path: string; message: string }[]) : [];
  if (status === 401 || status === 403) {
    let source = 'SLIPWAY_TOKEN';
    try {
      source = tokenChoice().source;
    } catch {
      // no token at all: said by tokenChoice where it matters
    }
    const detail = String(problem?.detail ?? '');
    return status === 401
      ? `the token from ${source} was refused${detail ? ` (${detail})` : ''}: ${
          // SLIPWAY_TOKEN is read before the login's token: logging in again would change nothing.
          source === 'SLIPWAY_TOKEN'
            ? 'set SLIPWAY_TOKEN to a valid one, or unset it to use the one `slipway login` stored'
            : 'run `slipway login` with a valid one'
        }`
      : `the token from ${source} may not do this${detail ? `: ${detail}` : ''}`;
  }
  // A 422's detail is already a sentence naming each problem (a release's, a stack's); its
  // errors[] messages are sentences too, so only a 400's schema errors get a field in front.
  if (errors.length > 0 && status !== 422) {
    return errors
      .map(({ path, message }) => {
        const field = path.split('/').filter(Boolean).pop() ?? '';
        // A service that did not say the rule: the shared grammar's words for its pattern, or no pattern at all.
        const pattern = /^must match pattern "(.*)"$/.exec(message)?.[1];
        const rule = pattern === undefined ? undefined : ruleForPattern(pattern);
        const words = pattern === undefined ? message : rule ? `must be ${rule}` : 'is not valid';
        return `${FIELD_WORDS[field] ?? field} ${words}`.trim();
      })
      .join('; ');
  }
  const coded = typeof problem?.code === 'string' ? CODE_WORDS[problem.code] : undefined;
  if (coded) return coded((problem?.args ?? {}) as Record<string, string>);
  return String(problem?.detail ?? problem?.title ?? `the service answered ${status}`);
}

/** The answer's body, or a CliError saying what the service said, in the CLI's words. */
export async function answer<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
  service: ServiceName,
): Promise<NonNullable<T>> {
  let result;
  try {
    result = await call;
  } catch (error) {
    throw unreachable(service, error);
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new CliError(inWords(result.response.status, result.error as Record<string, unknown> | undefined));
  }
  return result.data as NonNullable<T>;
}

/** Statuses that mean "not now" rather than "no" (Redis away, a service restarting): asked again. */
export const PASSING = new Set([502, 503, 504]);

export const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `answer`, asked again while the service is unavailable for a moment (a 503, as its
 * `Retry-After` says, or no connection): for the reads of a follow, whose work runs on meanwhile.
 * `notice` is told why, to say so once.
 */
export async function answerPatiently<T>(
  call: () => Promise<{ data?: T; error?: unknown; response: Response }>,
  service: ServiceName,
  notice: (why: string) => void,
  giveUpMs = 10 * 60_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + giveUpMs;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    let result;
    try {
      result = await call();
    } catch (error) {
      if (Date.now() > deadline) throw unreachable(service, error);
      notice(`cannot reach the ${service} service`);
      await wait(delay);
      continue;
    }
    if (!PASSING.has(result.response.status) || Date.now() > deadline) return answer(Promise.resolve(result), service);
    notice(`the ${service} is unavailable (${result.response.status})`);
    const after = Number(result.response.headers.get('retry-after'));
    await wait(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 5000) : delay);
  }
}

/** Raw fetch for what the typed clients do not cover (uploads, event streams). */
export async function raw(service: ServiceName, path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(`${serviceUrl(service)}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${token()}`, ...(init.headers as Record<string, string>) },
    });
  } catch (error) {
    throw unreachable(service, error);
  }
}
