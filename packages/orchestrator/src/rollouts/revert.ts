/**
 * Rolling back a commit (Wealthfront's small "X" beside a breaking commit): deploy the newest
 * earlier release whose artifact does not contain the commit, the way undo does (its image and
 * config commit, its group re-enabled while still retained), the record saying which commit it
 * reverts and why.
 */
import { ConflictError, principalOf, UnprocessableError, type TypedOperations } from '@slipway/core';
import { changeWith, prepareDeployment, previewPrepared, type CommandOptions } from '../deployments/commands.js';
import type { OrchestratorOperations as operations } from '@slipway/orchestrator-api';
import type { Served } from '../deployments/store.js';

export interface RevertTarget {
  /** What serves now (the newest entry of the history), which holds the commit. */
  current: Served;
  /** The newest earlier entry whose artifact does not hold it. */
  target: Served;
  version: string;
}

/** Finds the entry of the history to go back to, or says in words why there is none. */
export async function findRevertTarget(
  options: Pick<CommandOptions, 'store' | 'peers'>,
  service: string,
  env: string,
  commit: string,
): Promise<RevertTarget> {
  const { store, peers } = options;
  if (!peers.contains)
    throw new UnprocessableError('this orchestrator cannot ask baking which artifact holds a commit');
  const releases = await store.history(service, env, 50);
  const [current, ...earlier] = releases;
  if (!current) throw new ConflictError(`${service} ${env} has no release yet`);
  const versionOf = async (r: Served) => (await peers.image(r.image))?.version;
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

/** revertCommit and its preview, typed from the document (app.ts checks that every operation has one). */
export function createRevertOperations(options: CommandOptions) {
  /** What a revert would deploy: the newest earlier release without the commit, from what serves now. */
  async function planRevert(
    service: string,
    env: string,
    asked: { commit: string; message: string; named?: string | undefined; by: string; via?: string | undefined },
  ) {
    const { commit } = asked;
    const { current, target, version } = await findRevertTarget(options, service, env, commit);
    // A button names the deployment it was sent for: a revert acts on that, or on nothing.
    if (asked.named && current.deployment !== asked.named)
      throw new ConflictError(
        `${asked.named} no longer serves ${service} ${env}: ${current.deployment} does now; a revert goes back from what serves (slipway revert ${service} ${env} ${commit.slice(0, 12)})`,
      );
    const prepared = await prepareDeployment(
      options,
      {
        service,
        env,
        image: target.image,
        configRef: target.commit,
        message: `revert ${commit.slice(0, 12)} (back to ${version}): ${asked.message}`,
        strategy: 'red-black',
      },
      asked.by,
      {
        undoOf: current.deployment,
        revertsCommit: commit,
        context: { group: target.group },
        ...(asked.via ? { via: asked.via } : {}),
      },
    );
    return { prepared, target, version, preview: await previewPrepared(options, 'revert', prepared) };
  }

  return {
    async revertCommit(req, res) {
      const { service, env } = req.params;
      const { commit, message, confirm, deployment: named } = req.body;
      const { subject, via } = principalOf(req);
      const plan = await planRevert(service, env, { commit, message, named, by: subject, via });
      const deployment = await changeWith(options, plan.prepared, plan.preview, { confirm, by: subject });
      res
        .status(202)
        .location(`/deployments/${deployment.id}`)
        .json({ id: deployment.id, state: deployment.state, image: plan.target.image, version: plan.version });
    },
    async previewRevert(req, res) {
      const { service, env } = req.params;
      const { subject, via } = principalOf(req);
      const { commit, deployment: named } = req.body;
      res.json((await planRevert(service, env, { commit, message: 'preview', named, by: subject, via })).preview);
    },
  } satisfies Partial<TypedOperations<operations>>;
}
