/**
 * Refs and paths are checked before Git sees them: Git is always run without a shell, and
 * these rules also keep a value from being read as an option or a revision range.
 */
import { InputError } from './errors.js';

export const GIT_REF_RULE =
  'letters, digits and . _ / - only, not starting with - or /, without .. or @{ (a branch, tag or commit)';
export const REPO_PATH_RULE = 'a relative path without .. segments, a leading /, or control characters';

const REF_CHARS = /^[A-Za-z0-9._/-]{1,256}$/;

export function isGitRef(ref: string): boolean {
  return (
    REF_CHARS.test(ref) &&
    !ref.startsWith('-') &&
    !ref.startsWith('/') &&
    !ref.includes('..') &&
    !ref.includes('@{') &&
    !ref.endsWith('.lock') &&
    !ref.endsWith('/') &&
    !ref.includes('//')
  );
}

export function assertGitRef(ref: string, what = 'ref'): string {
  if (!isGitRef(ref)) throw new InputError(`invalid ${what} ${JSON.stringify(ref.slice(0, 80))}: ${GIT_REF_RULE}`);
  return ref;
}

export function isRepoPath(path: string): boolean {
  return (
    path.length > 0 &&
    path.length <= 1024 &&
    !path.startsWith('/') &&
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    !/[\u0000-\u001f\u007f]/.test(path) &&
    !path.split('/').some((segment) => segment === '..' || segment === '')
  );
}

export function assertRepoPath(path: string): string {
  if (!isRepoPath(path)) throw new InputError(`invalid path ${JSON.stringify(path.slice(0, 80))}: ${REPO_PATH_RULE}`);
  return path;
}

/** A full commit id (SHA-1), which names the same content for ever. */
export function isFullCommitId(ref: string): boolean {
  return /^[0-9a-f]{40}$/.test(ref);
}
