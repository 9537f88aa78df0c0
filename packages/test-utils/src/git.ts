/**
 * Throwaway Git repositories from inline file trees:
 * `const repo = await gitRepo({ 'deployment-params.json': '{…}' })`, then
 * `repo.commit({ … })` for more history, and `repo.remove()` afterwards.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Path → content; `null` deletes the file in the next commit. Objects are written as JSON. */
export type FileTree = Record<string, string | object | null>;

export interface TestGitRepo {
  dir: string;
  /** A `file://` URL to clone it from. */
  url: string;
  commit(files: FileTree, message?: string): Promise<string>;
  git(...args: string[]): Promise<string>;
  remove(): Promise<void>;
}

const identity = {
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.com',
};

export interface GitRepoOptions {
  /** Where to make it (created); a new temporary directory by default. */
  dir?: string;
  message?: string;
}

export async function gitRepo(files: FileTree = {}, options: GitRepoOptions = {}): Promise<TestGitRepo> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'slipway-git-')));
  await mkdir(dir, { recursive: true });
  const git = async (...args: string[]) => {
    const { stdout } = await run('git', args, { cwd: dir, env: { ...process.env, ...identity } });
    return stdout.trim();
  };
  await git('init', '--quiet', '--initial-branch=main');
  const repo: TestGitRepo = {
    dir,
    url: `file://${dir}`,
    git,
    async commit(tree, commitMessage = 'change') {
      for (const [path, content] of Object.entries(tree)) {
        const target = join(dir, path);
        if (content === null) {
          await rm(target, { force: true });
          continue;
        }
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
      }
      await git('add', '--all');
      await git('commit', '--quiet', '--allow-empty', '-m', commitMessage);
      return git('rev-parse', 'HEAD');
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  if (Object.keys(files).length > 0) await repo.commit(files, options.message ?? 'initial');
  return repo;
}
