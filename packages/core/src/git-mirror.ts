/**
 * A bare mirror clone of one Git repository (a service's configuration, the infrastructure
 * definitions) under $SLIPWAY_HOME, fetched in the background and never on the request path
 * (except its very first clone). Fetches of one repository are serialised; reads never wait
 * for them, and read through one long-lived `git cat-file --batch`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { CatFile, parseCommit, type CommitInfo } from './cat-file.js';
import { UnprocessableError } from './errors.js';
import { GIT_ENVIRONMENT, gitEnvironment } from './git-env.js';

export interface Freshness {
  /** The last successful clone or fetch. */
  fetchedAt?: string;
  /** Why the last fetch failed, when it did. */
  staleReason?: string;
}

export interface LogEntry {
  commit: string;
  author: string;
  email: string;
  date: string;
  message: string;
  files: string[];
}

const GIT_TIMEOUT_MS = 60_000;

export class RepositoryNotFoundError extends Error {}

export class GitMirror {
  readonly freshness: Freshness = {};
  private readonly catFile: CatFile;
  /** Branch and tag names → commit, as of the last fetch. */
  private readonly refs = new Map<string, CommitInfo>();
  private cloning: Promise<void> | undefined;
  private fetching: Promise<void> | undefined;
  /** Whether the clone's `origin` is known to be this mirror's URL (it may predate a change of it). */
  private originFollowed = false;

  constructor(
    readonly name: string,
    private readonly url: string,
    readonly dir: string,
    /** What the repository is, in messages: `no configuration repository search-prod`. */
    private readonly what = 'repository',
    /**
     * `git -c` settings for each clone and fetch, asked just before it (the outbound guard's
     * pinned address for a repository a request named); it may throw to refuse the fetch.
     */
    private readonly network?: () => Promise<string[]>,
  ) {
    this.catFile = new CatFile(dir);
    if (existsSync(dir)) this.freshness.staleReason = 'not fetched since the service started';
  }

  private clonedSeen = false;

  get cloned(): boolean {
    // Once there, a clone stays: no need to ask the file system on every request.
    this.clonedSeen ||= existsSync(this.dir);
    return this.clonedSeen;
  }

  /** Clones the repository if this service has no clone of it yet. */
  ensureCloned(): Promise<void> {
    if (this.cloned) return Promise.resolve();
    this.cloning ??= this.clone().finally(() => (this.cloning = undefined));
    return this.cloning;
  }

  /** Fetches now; a fetch already running is joined, not repeated. Never throws: it records. */
  fetch(): Promise<void> {
    if (!this.cloned) return this.ensureCloned().catch(() => {});
    this.triedAt = Date.now();
    if (!this.fetching) {
      const startedAt = this.triedAt;
      this.fetchingStartedAt = startedAt;
      this.fetching = this.doFetch().finally(() => {
        this.fetching = undefined;
        this.lastFetchStartedAt = startedAt;
      });
    }
    return this.fetching;
  }

  private triedAt = 0;
  /** When the fetch running now started. */
  private fetchingStartedAt = 0;
  /** When the last finished fetch started: it holds every push made before then. */
  private lastFetchStartedAt = 0;

  /**
   * Fetches so that what is read next holds every push made before `since` (a deploy's read
   * right after a push): a fetch that started before `since` is waited for and followed by one
   * of its own; one that started after is joined. Waits at most `waitMs`, then the clone as it
   * is answers (its freshness says how old it is).
   */
  async fetchSince(since: number, waitMs = 20_000): Promise<void> {
    if (!this.cloned) return;
    const fetched = (async () => {
      if (this.fetching && this.fetchingStartedAt < since) await this.fetching;
      if (this.fetching) return this.fetching; // started at or after `since`
      if (this.lastFetchStartedAt >= since) return;
      return this.fetch();
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([fetched, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  /**
   * Fetches first when the last fetch was tried more than `maxAgeMs` ago (a branch read right
   * after a push sees it), waiting for it at most `waitMs`: an unreachable remote delays a
   * read that long, once per `maxAgeMs`, and the clone as it is answers.
   */
  async fetchIfOlder(maxAgeMs: number, waitMs = 3000): Promise<void> {
    if (!this.cloned || Date.now() - this.triedAt < maxAgeMs) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.fetch(), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  /** The commit a branch, tag or (possibly short) commit id names, or undefined. */
  async resolve(ref: string): Promise<CommitInfo | undefined> {
    const known = this.refs.get(ref);
    if (known) return known;
    await this.refuseAmbiguous(ref);
    const object = await this.catFile.read(`${ref}^{commit}`);
    if (!object) return undefined;
    const info = parseCommit(object.oid, object.content);
    // Names move with fetches; full commit ids never do, and are cached by the caller.
    if (!/^[0-9a-f]{40}$/.test(ref)) this.refs.set(ref, info);
    return info;
  }

  /**
   * A short commit id that a branch or tag is also named is refused: Git reads the ref first, so
   * whoever may push a branch named like a short id shown somewhere would be deployed in its place.
   */
  private async refuseAmbiguous(ref: string): Promise<void> {
    if (!/^[0-9a-f]{4,39}$/.test(ref)) return;
    const named =
      (await this.catFile.read(`refs/heads/${ref}^{commit}`)) ?? (await this.catFile.read(`refs/tags/${ref}^{commit}`));
    if (!named) return;
    const objects = (
      await this.git()
        .raw(['rev-parse', `--disambiguate=${ref}`])
        .catch(() => '')
    ).split('\n');
    for (const oid of objects.filter(Boolean))
      if ((await this.catFile.read(oid))?.type === 'commit')
        throw new UnprocessableError(
          `${ref} names a branch or tag and a commit alike: give the commit's full id, or the branch as refs/heads/${ref}`,
        );
  }

  /** A file's content at a commit; undefined when there is no such file. */
  async readFile(commit: string, path: string): Promise<Buffer | undefined> {
    const object = await this.catFile.read(`${commit}:${path}`);
    return object?.type === 'blob' ? object.content : undefined;
  }

  /** The branch HEAD names in the clone (the remote's default branch). */
  async defaultBranch(): Promise<string> {
    const head = await readFile(join(this.dir, 'HEAD'), 'utf8').catch(() => '');
    return /^ref: refs\/heads\/(.+)$/m.exec(head)?.[1]?.trim() ?? 'HEAD';
  }

  /**
   * The default branch as a full ref name, to read it by: Git reads a short name as a tag before
   * a branch, so a tag pushed with the default branch's name would otherwise be read in its place.
   */
  async defaultRef(): Promise<string> {
    const branch = await this.defaultBranch();
    return branch === 'HEAD' ? 'HEAD' : `refs/heads/${branch}`;
  }

  /** The paths of the files (or, with `folders`, the folders) directly in `dir` at a commit. */
  async listFiles(commit: string, dir: string, { folders = false } = {}): Promise<string[]> {
    const output = await this.git()
      .raw(['ls-tree', '--name-only', '-z', ...(folders ? ['-d'] : []), `${commit}:${dir}`])
      .catch(() => '');
    return output
      .split('\0')
      .filter(Boolean)
      .map((name) => `${dir}/${name}`);
  }

  async log(commit: string, limit: number, path?: string): Promise<LogEntry[]> {
    const args = ['log', `--format=%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x1f`, '--name-only', `-n${limit}`, commit, '--'];
    if (path) args.push(path);
    const output = await this.git().raw(args);
    return output
      .split('\x1e')
      .filter((record) => record.trim())
      .map((record) => {
        const [commitId, author, email, date, message, files] = record.split('\x1f');
        return {
          commit: commitId!,
          author: author!,
          email: email!,
          date: date!,
          message: message!.trim(),
          files: (files ?? '').split('\n').filter(Boolean),
        };
      });
  }

  close(): void {
    this.catFile.close();
  }

  private git(baseDir = this.dir, config: string[] = []): SimpleGit {
    return simpleGit({
      baseDir,
      timeout: { block: GIT_TIMEOUT_MS },
      allowEnvironment: [...GIT_ENVIRONMENT],
      config,
    }).env(gitEnvironment());
  }

  private async clone(): Promise<void> {
    await mkdir(dirname(this.dir), { recursive: true });
    // Clone beside the final place and move it there whole, so a half-made clone is never read.
    const partial = `${this.dir}.partial-${process.pid}-${Date.now()}`;
    try {
      const config = (await this.network?.()) ?? [];
      await this.git(dirname(this.dir), config).clone(this.url, partial, ['--mirror', '--quiet']);
      await rename(partial, this.dir);
      this.originFollowed = true;
      this.fetched();
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      const message = describeGitError(error);
      if (/not found|does not exist|does not appear to be a git repository|no such file/i.test(message)) {
        throw new RepositoryNotFoundError(`no ${this.what} ${this.name}`);
      }
      throw new Error(`cannot clone ${this.name}: ${message}`);
    }
  }

  private async doFetch(): Promise<void> {
    try {
      await this.followUrl();
      const config = (await this.network?.()) ?? [];
      await this.git(this.dir, config).fetch(['--prune', '--quiet', 'origin']);
      await this.followHead(config);
      this.fetched();
    } catch (error) {
      this.freshness.staleReason = describeGitError(error);
    }
  }

  /**
   * A mirror's HEAD is set when it is cloned and a fetch leaves it: a repository whose default
   * branch moved (master → main, the old one deleted) would be read at a branch that is gone.
   */
  private async followHead(config: string[]): Promise<void> {
    const remote = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(
      await this.git(this.dir, config)
        .raw(['ls-remote', '--symref', 'origin', 'HEAD'])
        .catch(() => ''),
    )?.[1];
    if (!remote) return;
    const local = (await readFile(join(this.dir, 'HEAD'), 'utf8').catch(() => '')).replace(/^ref: /, '').trim();
    if (local !== remote) await this.git().raw(['symbolic-ref', 'HEAD', remote]);
  }

  /** A clone made from another URL (the setting changed since) fetches from this one from now on. */
  private async followUrl(): Promise<void> {
    if (this.originFollowed) return;
    const origin = (
      await this.git()
        .raw(['config', '--get', 'remote.origin.url'])
        .catch(() => '')
    ).trim();
    if (origin !== this.url) await this.git().raw(['remote', 'set-url', 'origin', this.url]);
    this.originFollowed = true;
  }

  private fetched(): void {
    this.freshness.fetchedAt = new Date().toISOString();
    delete this.freshness.staleReason;
    this.refs.clear();
    // A new process sees the new refs and packs; reads already asked are still answered.
    this.catFile.close();
  }
}

/** Git's complaint in one line, without credentials that a URL may carry. */
export function describeGitError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line =
    message
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^(fatal|error):/.test(l)) ?? message.split('\n')[0]!;
  return line
    .replace(/\/\/[^/@\s]+@/g, '//***@')
    .replace(/^(fatal|error):\s*/, '')
    .slice(0, 300);
}
