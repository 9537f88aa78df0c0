/**
 * A service's sync sets: its `clusters` metadata property names groups of clusters that must run
 * the same image (`{"live": ["prod-a", "prod-b"]}`). The one reader of that property, and the rule
 * that keeps names from colliding: a set may not be named like an environment of the service (a
 * cluster with its own configuration), nor like a cluster of any set, so `live` always means the
 * set and `prod-a` always the cluster, whichever face (CLI, Slack, API) a person uses.
 */

/** A JSON object (not null, not an array): how a property holding names is told from one that does not. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The sync sets a service's metadata declares, by name (members that are not strings are left out). */
export function syncSets(properties: Record<string, unknown>): Map<string, string[]> {
  const sets = new Map<string, string[]>();
  const declared = properties.clusters;
  if (!isRecord(declared)) return sets;
  for (const [name, members] of Object.entries(declared)) {
    if (Array.isArray(members))
      sets.set(
        name,
        members.filter((m): m is string => typeof m === 'string'),
      );
  }
  return sets;
}

/** The sync set a cluster belongs to, if any. */
export function syncSetOf(properties: Record<string, unknown>, env: string): string | undefined {
  for (const [name, members] of syncSets(properties)) if (members.includes(env)) return name;
  return undefined;
}

/**
 * Every name two things share, each said naming both: a set named like one of the service's
 * environments, or like a cluster of a set. `environments` are those with configuration.
 */
export function nameCollisions(
  service: string,
  sets: Map<string, string[]>,
  environments: string[],
): { set: string; message: string }[] {
  const problems: { set: string; message: string }[] = [];
  const members = new Map<string, string>();
  for (const [set, clusters] of sets) for (const c of clusters) if (!members.has(c)) members.set(c, set);
  for (const [set, clusters] of sets) {
    if (environments.includes(set))
      problems.push({
        set,
        message: `${set} is both a sync set of ${service} (${clusters.join(', ') || 'no clusters'}) and an environment of it (the configuration ${service}-${set}): give the set another name`,
      });
    else if (members.has(set))
      problems.push({
        set,
        message: `${set} is both a sync set of ${service} and a cluster of its set ${members.get(set)}: give the set another name`,
      });
  }
  return problems;
}
