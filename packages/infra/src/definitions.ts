/**
 * The definitions: a Git repository with one `stacks/<stack>.yaml` per stack, read through a
 * mirror clone. A plan fetches first, so it is made against what was just pushed.
 */
import { NotFoundError, ServiceUnavailableError } from '@slipway/core';
import { assertGitRef, GitMirror, RepositoryNotFoundError, type Freshness } from '@slipway/core/git';
import { parseStack, STACK_NAME, stackFile, type Stack } from './stack.js';

export interface ResolvedRef {
  ref: string;
  commit: string;
}

export interface Definitions {
  readonly freshness: Freshness;
  /** Fetches now (at most once at a time); keeps the last clone when the remote is away. */
  refresh(): Promise<void>;
  /** A branch, tag or commit (the default branch when absent) → its commit. */
  resolve(ref?: string): Promise<ResolvedRef>;
  stacks(commit: string): Promise<string[]>;
  /** The stack at a commit, parsed and validated (UnprocessableError when it is not valid). */
  stack(commit: string, name: string): Promise<Stack>;
  close(): void;
}

export function createGitDefinitions({ url, dir }: { url: string; dir: string }): Definitions {
  const mirror = new GitMirror('infrastructure', url, dir, 'infrastructure repository');

  async function cloned(): Promise<GitMirror> {
    try {
      await mirror.ensureCloned();
      return mirror;
    } catch (error) {
      if (error instanceof RepositoryNotFoundError) throw new ServiceUnavailableError(error.message);
      throw new ServiceUnavailableError((error as Error).message);
    }
  }

  return {
    freshness: mirror.freshness,
    async refresh() {
      await cloned();
      await mirror.fetch();
    },
    async resolve(ref) {
      const repo = await cloned();
      const name = ref === undefined ? await repo.defaultBranch() : assertGitRef(ref);
      const info = await repo.resolve(ref === undefined ? await repo.defaultRef() : name);
      if (!info) throw new NotFoundError(`no ref '${name}' in the infrastructure repository`);
      return { ref: name, commit: info.commit };
    },
    async stacks(commit) {
      const repo = await cloned();
      return (await repo.listFiles(commit, 'stacks'))
        .map((path) => /^stacks\/(.+)\.yaml$/.exec(path)?.[1])
        .filter((name): name is string => name !== undefined && STACK_NAME.test(name))
        .sort();
    },
    async stack(commit, name) {
      const repo = await cloned();
      const text = await repo.readFile(commit, stackFile(name));
      if (!text) throw new NotFoundError(`no ${stackFile(name)} at ${commit.slice(0, 12)}`);
      return parseStack(name, text.toString('utf8'));
    },
    close() {
      mirror.close();
    },
  };
}
