/**
 * Where the services are and how to ask them: typed clients (openapi-fetch over each service's
 * generated types), the token, and problem+json answers turned into one-line errors.
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
import type { BakingPaths } from '@slipway/baking';
import type { ConfigPaths } from '@slipway/config';
import type { InfraPaths } from '@slipway/infra';
import type { MetadataPaths } from '@slipway/metadata';
import type { OrchestratorPaths } from '@slipway/orchestrator';

export const OFFSETS = { metadata: 1, config: 2, baking: 3, infra: 4, orchestrator: 5 } as const;
export type ServiceName = keyof typeof OFFSETS;

export { CliError };

export function loginFile(env = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'slipway', 'token');
}

export function token(env = process.env): string {
  if (env.SLIPWAY_TOKEN) return env.SLIPWAY_TOKEN;
  for (const file of [loginFile(env), join(env.SLIPWAY_HOME ?? '.slipway', 'admin-token')]) {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  }
  throw new CliError('no token: set SLIPWAY_TOKEN, run `slipway login`, or start the platform here (npm start)');
}

export function serviceUrl(service: ServiceName, env = process.env): string {
  const own = env[`SLIPWAY_${service.toUpperCase()}_URL`];
  if (own) return own.replace(/\/$/, '');
  const base = new URL(env.SLIPWAY_URL ?? `http://127.0.0.1:${env.SLIPWAY_PORT_BASE ?? 7100}`);
  base.port = String(Number(base.port || 80) + OFFSETS[service]);
  return base.origin;
}

interface Paths {
  metadata: MetadataPaths;
  config: ConfigPaths;
  baking: BakingPaths;
  infra: InfraPaths;
  orchestrator: OrchestratorPaths;
}

const clients = new Map<ServiceName, unknown>();

export function client<S extends ServiceName>(service: S): Client<Paths[S]> {
  let made = clients.get(service) as Client<Paths[S]> | undefined;
  if (!made) {
    made = createClient<Paths[S]>({ baseUrl: serviceUrl(service), headers: { Authorization: `Bearer ${token()}` } });
    clients.set(service, made);
  }
  return made;
}

function unreachable(service: string, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return new CliError(
    `cannot reach ${service}${cause ? ` (${cause})` : ''}: is the platform running? (npm start, or set SLIPWAY_URL)`,
  );
}

/** The answer's body, or a CliError saying what the service said (problem+json `detail`). */
export async function answer<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
  service?: ServiceName,
): Promise<NonNullable<T>> {
  let result;
  try {
    result = await call;
  } catch (error) {
    throw unreachable(service ?? 'the service', error);
  }
  if (result.error !== undefined || !result.response.ok) {
    const problem = result.error as { detail?: string; title?: string } | undefined;
    throw new CliError(problem?.detail ?? problem?.title ?? `${result.response.status} ${result.response.statusText}`);
  }
  return result.data as NonNullable<T>;
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

export async function rawJson<T>(service: ServiceName, path: string, init: RequestInit = {}): Promise<T> {
  const res = await raw(service, path, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text
  }
  if (!res.ok) throw new CliError((body as { detail?: string }).detail ?? `${res.status} ${res.statusText}`);
  return body as T;
}
