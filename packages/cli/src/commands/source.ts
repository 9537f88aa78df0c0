/**
 * The source commit behind an artifact: `slipway build` reports it to baking (POST /builds) with
 * the repository URL — the service's `repo` metadata property, else the checkout's `origin` — so
 * the artifact, the images baked from it and the deployments of those know their commit.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { answer, client } from '../api.js';

const run = promisify(execFile);

async function git(dir: string, ...args: string[]): Promise<string | undefined> {
  try {
    return (await run('git', args, { cwd: dir })).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The checkout's HEAD and where it came from; undefined when `dir` is not a Git checkout. */
export async function sourceOf(dir: string, repo?: string): Promise<{ commit: string; repo?: string } | undefined> {
  const commit = await git(dir, 'rev-parse', 'HEAD');
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) return undefined;
  const url = repo ?? (await git(dir, 'remote', 'get-url', 'origin'));
  return { commit, ...(url ? { repo: url } : {}) };
}

/** Records that `version` of `service` was built from the checkout's commit; the commit, or undefined. */
export async function recordSource(
  service: string,
  version: string,
  dir: string,
  repo: unknown,
): Promise<string | undefined> {
  const source = await sourceOf(dir, typeof repo === 'string' ? repo : undefined);
  if (!source) return undefined;
  await answer(client('baking').POST('/builds', { body: { service, version, status: 'passed', ...source } }), 'baking');
  return source.commit;
}
