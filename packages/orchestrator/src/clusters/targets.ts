/**
 * What a name means for a service — one of its clusters (an environment with configuration) or one
 * of its sync sets (its `clusters` metadata) — decided here for every face: the API's deployments,
 * undo and releases, the CLI and Slack (GET /services/{service}/names/{name}). A name that is both
 * is refused naming both, so `live` never deploys one place from the CLI and another from Slack.
 */
import { UnprocessableError } from '@slipway/core';
import { nameCollisions, syncSets } from '@slipway/metadata-api';
import type { Peers, ServiceRecord } from '../peers.js';

export type Target = { kind: 'cluster'; name: string } | { kind: 'set'; name: string; clusters: string[] };

export interface Resolved {
  service: ServiceRecord;
  target: Target;
}

/** The service's record and what `name` is for it; a service not registered or a name meaning two things is a 422. */
export async function resolveName(
  peers: Pick<Peers, 'service' | 'environments'>,
  service: string,
  name: string,
): Promise<Resolved> {
  const record = await peers.service(service);
  if (!record)
    throw new UnprocessableError(
      `service ${service} is not registered: add it with PUT /services/${service} in metadata`,
      { code: 'service-not-registered', args: { service } },
    );
  const sets = syncSets(record.properties);
  const members = sets.get(name);
  if (members) {
    // A set named like an environment: refused naming both (the config service lists what it has cloned or can see).
    const environments = peers.environments ? await peers.environments(service).catch(() => []) : [];
    const collision = nameCollisions(service, sets, environments).find((c) => c.set === name);
    if (collision) throw new UnprocessableError(collision.message);
    return { service: record, target: { kind: 'set', name, clusters: members } };
  }
  // Anything else names a cluster: its configuration says whether it exists.
  return { service: record, target: { kind: 'cluster', name } };
}

/** The refusal of a sync set where one cluster is meant, in words. */
export function notOneCluster(service: string, target: Extract<Target, { kind: 'set' }>): UnprocessableError {
  return new UnprocessableError(
    `${target.name} is a sync set of ${service} (${target.clusters.join(', ')}), not one cluster: name one of its clusters; a deploy to the set is a release (POST /releases with env ${target.name}, as slipway deploy makes it)`,
    { code: 'set-not-cluster', args: { service, set: target.name, clusters: target.clusters.join(', ') } },
  );
}
