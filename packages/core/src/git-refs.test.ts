import { describe, expect, it } from '@jest/globals';
import { assertGitRef, assertRepoPath, isGitRef, isRepoPath } from './git-refs.js';
import { InputError } from './errors.js';

describe('git refs', () => {
  it.each(['main', 'release/1.2', 'v1.0.0', 'a1b2c3d', 'feature_x-y'])('accepts %s', (ref) => {
    expect(isGitRef(ref)).toBe(true);
  });
  it.each([
    '-n',
    '--upload-pack=x',
    'a..b',
    'main@{1}',
    'has space',
    'tab\there',
    'new\nline',
    'a;b',
    '$(x)',
    '',
    '/abs',
    'x.lock',
    'a//b',
  ])('refuses %j', (ref) => {
    expect(isGitRef(ref)).toBe(false);
    expect(() => assertGitRef(ref)).toThrow(InputError);
  });
});

describe('repository paths', () => {
  it.each(['deployment-params.json', 'dir/file.txt', '.hidden', 'a b.txt'])('accepts %s', (path) => {
    expect(isRepoPath(path)).toBe(true);
  });
  it.each(['../secret', 'a/../../b', '/etc/passwd', 'nul\0byte', 'line\nbreak', '', 'a//b', 'trailing/'])(
    'refuses %j',
    (path) => {
      expect(isRepoPath(path)).toBe(false);
      expect(() => assertRepoPath(path)).toThrow(/invalid path/);
    },
  );
});
