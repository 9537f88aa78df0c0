/**
 * Naming rules (Asgard/frigga conventions). The patterns and words for services, environments
 * and versions are written once, in @slipway/grammar, which the CLI and Slack check first.
 * Server groups are `<service>-<env>-v<NNN>`, the number rising by one each deploy and
 * wrapping after 999.
 */
import {
  ENV_NAME,
  ENV_NAME_RULE,
  METADATA_KEY,
  METADATA_KEY_RULE,
  ruleForPattern as grammarRule,
  SERVICE_NAME,
  SERVICE_NAME_RULE,
  VERSION_RULE,
} from '@slipway/grammar';
import { InputError } from './errors.js';

// The rules for names and versions are the grammar's (the CLI and Slack check them before asking).
export { ENV_NAME_RULE, METADATA_KEY_RULE, SERVICE_NAME_RULE, VERSION_RULE };

/** Infrastructure stacks and the resources in them (load balancers, target groups, …). */
export const RESOURCE_NAME_RULE = 'a lowercase letter, then lowercase letters, digits or -, at most 32 characters';

export const RESOURCE_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const SERVER_GROUP_NAME = /^([a-z0-9]{1,32})-([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?)-v(\d{3})$/;

export const MAX_SERVER_GROUP_SEQUENCE = 999;

export { isVersion } from '@slipway/grammar';

/** The rule in words for a pattern the OpenAPI documents use (the grammar's, and infra's resource names), so a 400 says it. */
export function ruleForPattern(pattern: string): string | undefined {
  return grammarRule(pattern) ?? (pattern === RESOURCE_NAME.source ? RESOURCE_NAME_RULE : undefined);
}

export function isServiceName(name: string): boolean {
  return SERVICE_NAME.test(name);
}

export function isEnvName(env: string): boolean {
  return ENV_NAME.test(env);
}

export function isMetadataKey(key: string): boolean {
  return METADATA_KEY.test(key);
}

export function assertServiceName(name: string): string {
  if (!isServiceName(name)) {
    throw new InputError(`invalid service name '${printable(name)}': ${SERVICE_NAME_RULE}`);
  }
  return name;
}

export function assertEnvName(env: string): string {
  if (!isEnvName(env)) {
    throw new InputError(`invalid environment '${printable(env)}': ${ENV_NAME_RULE}`);
  }
  return env;
}

export function assertMetadataKey(key: string): string {
  if (!isMetadataKey(key)) {
    throw new InputError(`invalid metadata key '${printable(key)}': ${METADATA_KEY_RULE}`);
  }
  return key;
}

/** `search` + `prod` → `search-prod`: the cluster every server group of that pair belongs to. */
export function clusterName(service: string, env: string): string {
  return `${assertServiceName(service)}-${assertEnvName(env)}`;
}

export function serverGroupName(service: string, env: string, sequence: number): string {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > MAX_SERVER_GROUP_SEQUENCE) {
    throw new InputError(`server group sequence must be an integer from 0 to ${MAX_SERVER_GROUP_SEQUENCE}`);
  }
  return `${clusterName(service, env)}-v${String(sequence).padStart(3, '0')}`;
}

export interface ServerGroupNameParts {
  service: string;
  env: string;
  cluster: string;
  sequence: number;
}

export function parseServerGroupName(name: string): ServerGroupNameParts | undefined {
  const match = SERVER_GROUP_NAME.exec(name);
  if (!match) return undefined;
  const [, service, env, sequence] = match as unknown as [string, string, string, string];
  return { service, env, cluster: `${service}-${env}`, sequence: Number(sequence) };
}

/**
 * The name of the group a deploy creates after `latest` (the newest group of the cluster, if
 * any): one more than its number, wrapping after 999, skipping numbers still in use.
 */
export function nextServerGroupName(
  service: string,
  env: string,
  latest?: string,
  inUse: Iterable<string> = [],
): string {
  const taken = new Set(inUse);
  const start = latest ? (parseServerGroupName(latest)?.sequence ?? 0) + 1 : 1;
  for (let step = 0; step <= MAX_SERVER_GROUP_SEQUENCE; step++) {
    const candidate = serverGroupName(service, env, (start + step) % (MAX_SERVER_GROUP_SEQUENCE + 1));
    if (!taken.has(candidate)) return candidate;
  }
  throw new InputError(`cluster ${clusterName(service, env)} has no free server group number left`);
}

/** Keeps error messages to one readable line whatever a caller sent. */
function printable(value: string): string {
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return shown.replace(/[^\x20-\x7e]/g, '?');
}
