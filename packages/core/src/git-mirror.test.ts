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
});
