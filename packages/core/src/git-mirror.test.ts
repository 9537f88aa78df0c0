import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitRepo, type TestGitRepo } from '@slipway/test-utils';
import { GitMirror } from './git-mirror.js';

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const step of cleanup) await step();
});

async function repo(content: string): Promise<TestGitRepo> {
  const made = await gitRepo({ 'file.txt': content });
  cleanup.push(() => made.remove());
  return made;
}

describe('GitMirror', () => {
  it('follows its URL when the setting changes: a clone of the old one fetches from the new one', async () => {
    const home = await mkdtemp(join(tmpdir(), 'slipway-mirror-'));
    cleanup.push(() => rm(home, { recursive: true, force: true }));
    const [first, second] = [await repo('first\n'), await repo('second\n')];
    const dir = join(home, 'mirror.git');
    const before = new GitMirror('search-prod', first.url, dir);
    await before.ensureCloned();
    const readMain = async (mirror: GitMirror) => {
      const commit = await mirror.resolve('main');
      return (await mirror.readFile(commit!.commit, 'file.txt'))?.toString();
    };
    expect(await readMain(before)).toBe('first\n');
    before.close();

    const after = new GitMirror('search-prod', second.url, dir); // the service restarted with a new URL
    await after.fetch();
    expect(after.freshness.staleReason).toBeUndefined();
    expect(await readMain(after)).toBe('second\n');
    after.close();
  });

  it('refuses a short commit id that a branch or tag is also named: the branch would be read in its place', async () => {
    const home = await mkdtemp(join(tmpdir(), 'slipway-mirror-'));
    cleanup.push(() => rm(home, { recursive: true, force: true }));
    const source = await repo('reviewed\n');
    const reviewed = (await source.git('rev-parse', 'HEAD')).trim();
    const short = reviewed.slice(0, 12);
    // Someone who may push a branch names it like the reviewed commit's short id, at a commit of theirs.
    await source.commit({ 'file.txt': 'theirs\n' });
    await source.git('branch', short, 'HEAD');
    await source.git('reset', '--hard', reviewed);
    const mirror = new GitMirror('search-prod', source.url, join(home, 'mirror.git'));
    await mirror.ensureCloned();
    await expect(mirror.resolve(short)).rejects.toThrow(
      new RegExp(`^${short} names a branch or tag and a commit alike: give the commit's full id`),
    );
    // The full id, and a short id no ref is named like, still resolve.
    expect((await mirror.resolve(reviewed))?.commit).toBe(reviewed);
    expect((await mirror.resolve(reviewed.slice(0, 10)))?.commit).toBe(reviewed);
    mirror.close();
  });
});
