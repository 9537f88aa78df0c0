/**
 * `@slipway/core/git`: the Git plumbing only the services that read repositories take (config,
 * infra, baking's build records): ref and path rules, the locked-down Git environment, a
 * long-lived `git cat-file --batch`, and the mirror that fetches and reads a repository.
 */
export * from './git-refs.js';
export * from './git-env.js';
export * from './cat-file.js';
export * from './git-mirror.js';
