/**
 * The source commit behind an artifact: `slipway build` reports it to baking (POST /builds) with
 * the repository URL — the service's `repo` metadata property, else the checkout's `origin` — so
 * the artifact, the images baked from it and the deployments of those know their commit.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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
  const url = repo ?? asUrl(dir, await git(dir, 'remote', 'get-url', 'origin'));
  // A CI checkout's origin may carry its token (https://gitlab-ci-token:…@host/…): never sent on.
  const shown = url?.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1');
  return { commit, ...(shown ? { repo: shown } : {}) };
}

/** An origin git names by a path (a repository on this disk) as the file:// URL baking accepts. */
function asUrl(dir: string, remote: string | undefined): string | undefined {
  if (!remote || /^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) return remote;
  const path = resolve(dir, remote);
  return existsSync(path) ? pathToFileURL(path).href : remote;
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
  // Recorded without a repository, a commit cannot be compared with others: revert could not tell.
  if (!source.repo)
    process.stderr.write(
      `slipway: no repository is known for ${service} (no "repo" metadata, no git remote "origin" in ${dir}): ` +
        `${version} is recorded with its commit only, so slipway revert cannot tell which releases contain a commit. ` +
        `Set one: slipway services set ${service} repo=<url> (or git remote add origin <url>)\n`,
    );
  const report = (body: typeof source) =>
    client('baking').POST('/builds', { body: { service, version, status: 'passed', ...body } });
  const first = await report(source);
  if ((first.response.status === 422 || first.response.status === 403) && source.repo) {
    // A repository the platform may not clone (a path on this disk, a host not allowed), or not
    // the service's own (403: another checkout's origin): the commit still counts.
    const why = (first.error as { detail?: string } | undefined)?.detail ?? 'refused';
    process.stderr.write(`slipway: the commit is recorded without its repository: ${why}\n`);
    await answer(report({ commit: source.commit }), 'baking');
  } else await answer(Promise.resolve(first), 'baking');
  return source.commit;
}
