/**
 * Rolling back a commit (Wealthfront's small "X" beside a breaking commit): deploy the newest
 * earlier release whose artifact does not contain the commit, the way undo does (its image and
 * config commit, its group re-enabled while still retained), the record saying which commit it
 * reverts and why.
 */
import { ConflictError, principalOf, UnprocessableError, type TypedOperations } from '@slipway/core';
import { submitDeployment, type OperationsOptions } from './operations.js';
import type { operations } from './schema/generated/openapi.js';
import type { Release } from './store.js';

export interface RevertTarget {
  /** The release now running, which holds the commit. */
  current: Release;
  /** The newest earlier release whose artifact does not hold it. */
  target: Release;
  version: string;
}

/** Finds the release to go back to, or says in words why there is none. */
export async function findRevertTarget(
  options: Pick<OperationsOptions, 'store' | 'peers'>,
  service: string,
  env: string,
  commit: string,
): Promise<RevertTarget> {
  const { store, peers } = options;
  if (!peers.contains)
    throw new UnprocessableError('this orchestrator cannot ask baking which artifact holds a commit');
  const releases = await store.releases(service, env, 50);
  const [current, ...earlier] = releases;
  if (!current) throw new ConflictError(`${service} ${env} has no release yet`);
  const versionOf = async (r: Release) => (await peers.image(r.image))?.version;
  const currentVersion = await versionOf(current);
  if (!currentVersion)
    throw new UnprocessableError(`the image ${current.image} running in ${service} ${env} has no version`);
  const inCurrent = await peers.contains(service, currentVersion, commit);
  if (inCurrent === false)
    throw new ConflictError(
      `${service} ${env} runs ${currentVersion}, which does not contain ${commit.slice(0, 12)}: nothing to revert`,
    );
  if (inCurrent === undefined)
    throw new UnprocessableError(
      `cannot tell whether ${service} ${currentVersion} contains ${commit.slice(0, 12)}: no build was reported for it, or its repository does not know the commit`,
    );
  const untold = new Set<string>();
  for (const release of earlier) {
    const version = await versionOf(release);
    if (!version) continue;
    const contains = await peers.contains(service, version, commit);
    if (contains === false) return { current, target: release, version };
    if (contains === undefined) untold.add(version);
  }
  // Releases whose builds name no repository (built from a checkout without `origin`, no `repo`
  // metadata) cannot be told apart: say so, and how to make them tellable, rather than "none".
  const why =
    untold.size > 0
      ? `; Slipway cannot tell for ${[...untold].join(', ')}: no build with a repository was reported for ${untold.size === 1 ? 'it' : 'them'} (set the service's repo metadata, slipway services set ${service} repo=<url>, and build again)`
      : ': deploy a fixed version instead';
  throw new ConflictError(
    `no earlier release of ${service} ${env} is known to be without ${commit.slice(0, 12)}${why}`,
  );
}

/** revertCommit, typed from the document (app.ts checks that every operation has one). */
export function createRevertOperations(options: OperationsOptions) {
  return {
    async revertCommit(req, res) {
      const { service, env } = req.params;
      const { commit, message } = req.body;
      const { current, target, version } = await findRevertTarget(options, service, env, commit);
      const { subject, via } = principalOf(req);
      const deployment = await submitDeployment(
        options,
        {
          service,
          env,
          image: target.image,
          configRef: target.commit,
          message: `revert ${commit.slice(0, 12)} (back to ${version}): ${message}`,
          strategy: 'red-black',
        },
        subject,
        {
          undoOf: current.deployment,
          revertsCommit: commit,
          context: { group: target.group },
          ...(via ? { via } : {}),
        },
      );
      res
        .status(202)
        .location(`/deployments/${deployment.id}`)
        .json({ id: deployment.id, state: deployment.state, image: target.image, version });
    },
  } satisfies Partial<TypedOperations<operations>>;
}
