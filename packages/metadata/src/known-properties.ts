/**
 * Metadata is schemaless but for the properties Slipway itself acts on: a write that would make
 * one unreadable, or make two names collide, is refused with a 422 saying what and where, and
 * nothing is stored.
 *
 * - `clusters` (sync sets): a set may not be named like an environment of the service (a
 *   configuration repository, asked of the config service) nor like a cluster of any set, so one
 *   name never means two things (sync-sets.ts in @slipway/metadata-api).
 * - `policy` (each environment's rules: production, confirmation, approvers, freezes) must read
 *   as environment-policy.ts in @slipway/metadata-api reads it.
 */
import type { ConfigPaths } from '@slipway/config-api';
import { createServiceClient, unwrap, UnprocessableError, type Logger } from '@slipway/core';
import { nameCollisions, policyProblems, syncSets } from '@slipway/metadata-api';
import type { Metadata } from './store.js';

/** The environments a service has configuration for; absent where no config service is known. */
export type EnvironmentLister = (service: string) => Promise<string[]>;

export function configEnvironments(configUrl: string, token: string): EnvironmentLister {
  const config = createServiceClient<ConfigPaths>({ baseUrl: configUrl, token });
  return async (service) =>
    unwrap(await config.GET('/config/{service}', { params: { path: { service } } })).environments;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Refuses (422) a service's next metadata when a property Slipway acts on would not read, or a
 * sync set would share its name with an environment or a cluster. Only what the write changes is
 * checked, so a record stored before these rules can still be edited in its other properties.
 */
export async function checkKnownProperties(
  service: string,
  next: Metadata,
  before: Metadata | undefined,
  options: { environments?: EnvironmentLister | undefined; logger?: Logger | undefined },
): Promise<void> {
  const problems: { path: string; message: string }[] = [];
  if ('policy' in next && !same(next.policy, before?.policy))
    for (const message of policyProblems(next.policy)) problems.push({ path: '/policy', message });
  if ('clusters' in next && !same(next.clusters, before?.clusters)) {
    const sets = syncSets(next);
    let environments: string[] = [];
    if (options.environments && sets.size > 0) {
      try {
        environments = await options.environments(service);
      } catch (error) {
        // The set names are still checked against each other; the config service's list is a courtesy.
        options.logger?.warn(
          { service, err: error },
          'cannot list environments: sync set names checked against clusters only',
        );
      }
    }
    for (const { set, message } of nameCollisions(service, sets, environments))
      problems.push({ path: `/clusters/${set}`, message });
  }
  if (problems.length > 0)
    throw new UnprocessableError(`not stored: ${problems.map((p) => p.message).join('; ')}`, { errors: problems });
}
