import { describe, expect, it } from '@jest/globals';
import { parseCommand, UsageError, words } from './grammar.js';
import { ResponseThread } from './thread.js';
import { createChatUsers } from './users.js';

describe('the /slipway grammar', () => {
  it('splits words like a shell, with Slack’s curly quotes too', () => {
    expect(words('deploy search prod img-1 -m "two words"')).toEqual([
      'deploy',
      'search',
      'prod',
      'img-1',
      '-m',
      'two words',
    ]);
    expect(words('undo a b -m “it’s slow”')).toEqual(['undo', 'a', 'b', '-m', 'it’s slow']);
    expect(() => words('deploy -m "open')).toThrow(UsageError);
  });

  it('reads every verb of the CLI it carries', () => {
    expect(parseCommand('')).toEqual({ verb: 'help' });
    expect(parseCommand('status search')).toEqual({ verb: 'status', service: 'search' });
    expect(parseCommand('deploy search prod img-1 -m why --ref v2 --strategy progressive --queue')).toEqual({
      verb: 'deploy',
      service: 'search',
      env: 'prod',
      image: 'img-1',
      message: 'why',
      ref: 'v2',
      strategy: 'progressive',
      queue: true,
    });
    expect(parseCommand('release search@img-1 users@2.0.1 --env prod -m go')).toEqual({
      verb: 'release',
      items: [
        { service: 'search', image: 'img-1' },
        { service: 'users', version: '2.0.1' },
      ],
      env: 'prod',
      message: 'go',
    });
    expect(parseCommand('promote search staging prod')).toEqual({
      verb: 'promote',
      service: 'search',
      from: 'staging',
      to: 'prod',
      message: 'promote from staging',
    });
    expect(parseCommand('rollback dep-abc1234')).toEqual({ verb: 'rollback', id: 'dep-abc1234' });
    expect(parseCommand('bake base')).toEqual({ verb: 'bake', service: 'base' });
    expect(parseCommand('bake search 1.4.0')).toEqual({ verb: 'bake', service: 'search', version: '1.4.0' });
    expect(parseCommand('sync')).toEqual({ verb: 'sync' });
  });

  it('refuses what the CLI would refuse, saying how to write it', () => {
    expect(() => parseCommand('deploy search prod img-1')).toThrow(/needs a reason/);
    expect(() => parseCommand('deploy search prod img-1 -m x --strategy yolo')).toThrow(/--strategy is one of/);
    expect(() => parseCommand('deploy search prod "img 1; rm -rf /" -m x')).toThrow(/not an image id/);
    expect(() => parseCommand('pause 12')).toThrow(/deployment id/);
    expect(() => parseCommand('status search prod extra')).toThrow(/too many words/);
    expect(() => parseCommand('deploy search prod img-1 -m x --force')).toThrow(/Unknown option/);
  });
});

describe('ResponseThread', () => {
  it('never posts more than Slack takes to one response_url, and keeps the last post for the outcome', async () => {
    const posted: string[] = [];
    const thread = new ResponseThread(async (m) => posted.push(m.text));
    for (let i = 0; i < 10; i++) await thread.update(`step ${i}`);
    await thread.update('step 9');
    await thread.finish('done');
    expect(posted).toEqual(['step 0', 'step 1', 'step 2', 'step 3', 'done']);
  });
});

describe('chat users', () => {
  it('maps a Slack user, per workspace first, and refuses a malformed entry', () => {
    const users = createChatUsers({
      U1: { subject: 'alice', role: 'deployer' },
      'T2/U1': { subject: 'alice-other', role: 'reader' },
    });
    expect(users.find('T1', 'U1')).toEqual({ subject: 'alice', role: 'deployer' });
    expect(users.find('T2', 'U1')).toEqual({ subject: 'alice-other', role: 'reader' });
    expect(users.find('T1', 'U9')).toBeUndefined();
    expect(() => createChatUsers({ U1: { subject: 'alice', role: 'root' } })).toThrow(/needs a subject/);
  });
});
