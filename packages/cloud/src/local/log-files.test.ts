import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@slipway/test-utils';
import { parseLogSize, rollLogFile } from './log-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-log-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rollLogFile', () => {
  it('rolls a file another process appends to, keeping the newest older files, and the writer goes on', async () => {
    const file = join(dir, 'instance.log');
    // Written to as an instance writes its log: its stdout is the file, opened for append.
    const fd = openSync(file, 'a');
    const writer = spawn(
      process.execPath,
      ['-e', `let n = 0; setInterval(() => console.log('line ' + n++ + ' ' + 'x'.repeat(90)), 1)`],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    try {
      let rolls = 0;
      await eventually(
        async () => (rolls += (await rollLogFile(file, { maxBytes: 1024, keep: 2 })) ? 1 : 0),
        (n) => n >= 4,
        'four roll-overs',
      );
      const before = (await readFile(file, 'utf8')).length;
      await eventually(
        () => readFile(file, 'utf8'),
        (text) => text.length > before && text.endsWith('\n'),
        'the writer still writing',
      );
    } finally {
      writer.kill('SIGKILL');
    }
    expect((await readdir(dir)).sort()).toEqual(['instance.1.log', 'instance.2.log', 'instance.log']);
    for (const name of ['instance.1.log', 'instance.2.log', 'instance.log']) {
      const text = await readFile(join(dir, name), 'utf8');
      // Appending, the writer started again at the start of the emptied file: no hole of NULs.
      expect(text).not.toContain('\0');
      expect(text).toMatch(/^line \d+ x+\n/);
    }
    const first = (name: string) => readFile(join(dir, name), 'utf8').then((t) => Number(/^line (\d+)/.exec(t)![1]));
    expect(await first('instance.2.log')).toBeLessThan(await first('instance.1.log'));
    expect(await first('instance.1.log')).toBeLessThan(await first('instance.log'));
  });

  it('leaves a small or missing file alone', async () => {
    expect(await rollLogFile(join(dir, 'none.log'), { maxBytes: 10, keep: 2 })).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps no older file when told to keep none', async () => {
    const file = join(dir, 'balancers.log');
    await writeFile(file, 'x'.repeat(100));
    expect(await rollLogFile(file, { maxBytes: 50, keep: 0 })).toBe(true);
    expect(await readdir(dir)).toEqual(['balancers.log']);
    expect((await stat(file)).size).toBe(0);
  });
});

describe('parseLogSize', () => {
  it('reads pino-roll notation', () => {
    expect(parseLogSize('10m')).toBe(10 * 1024 * 1024);
    expect(parseLogSize('512k')).toBe(512 * 1024);
    expect(parseLogSize('1G')).toBe(1024 ** 3);
    expect(parseLogSize('2048')).toBe(2048);
    expect(parseLogSize('1.5k')).toBe(1536);
    expect(() => parseLogSize('ten')).toThrow("log size 'ten' is not a size like 10m, 512k or 1g");
  });
});
