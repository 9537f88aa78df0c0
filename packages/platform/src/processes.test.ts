import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@slipway/test-utils';
import { superviseProcess } from './processes.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

// A child that writes a line every few milliseconds until it is stopped: on a busy machine its output
// comes in large chunks, so a fixed amount could roll over fewer times than the test waits for.
const CHATTY = `let n = 0; setInterval(() => console.log('line ' + n++ + ' ' + 'x'.repeat(100)), 2);`;

describe('superviseProcess', () => {
  it('rolls its log over at the size given, keeping the newest files and a current.log link', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-logs-'));
    dirs.push(dir);
    const said: string[] = [];
    const running = await superviseProcess('chatty', process.execPath, ['-e', CHATTY], {
      env: process.env,
      logDir: join(dir, 'chatty'),
      logSize: '2k',
      ready: async () => true,
      say: (line) => said.push(line),
    });
    await eventually(
      () => readFile(running.logFile, 'utf8').catch(() => ''),
      () => true,
      'the log',
    );
    await eventually(
      () => readdir(join(dir, 'chatty')),
      (files) => files.filter((f) => /^chatty\.\d+\.log$/.test(f)).length >= 3,
      'rolled files',
    );
    await running.stop();
    const files = (await readdir(join(dir, 'chatty'))).filter((f) => f.endsWith('.log') && f !== 'current.log');
    expect(files.length).toBeLessThanOrEqual(6); // the current one and the 5 newest before it
    const newest = files.sort((a, b) => Number(b.split('.')[1]) - Number(a.split('.')[1]))[0];
    expect(await readlink(join(dir, 'chatty', 'current.log'))).toBe(newest);
    expect(said).toEqual([]);
  });

  it('restarts a child that dies, with backoff, and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-logs-'));
    dirs.push(dir);
    const said: string[] = [];
    const running = await superviseProcess('sleeper', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      env: process.env,
      logDir: join(dir, 'sleeper'),
      ready: async () => true,
      say: (line) => said.push(line),
    });
    const first = running.child.pid;
    running.child.kill('SIGKILL');
    await eventually(
      async () => running.restarts,
      (n) => n === 1 && running.running,
      'a restart',
    );
    expect(running.child.pid).not.toBe(first);
    await eventually(
      async () => said,
      (lines) => lines.length === 2,
      'two lines said',
    );
    expect(said[0]).toMatch(/^sleeper exited \(SIGKILL\); restarting it in 0\.25 s/);
    expect(said[1]).toMatch(/^sleeper is back \(pid \d+/);
    await running.stop();
    expect(running.running).toBe(false);
    expect(running.restarts).toBe(1); // stopped, not restarted
  });
});
