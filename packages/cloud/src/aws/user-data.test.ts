import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTANCE_DIR, parseUserDataScript, renderUserDataScript } from './user-data.js';

describe('renderUserDataScript', () => {
  it('writes files byte for byte and runs commands as given, whatever they contain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-userdata-'));
    const nasty = `it's "quoted" $HOME \`whoami\` \\ and\nnew lines ✓`;
    const script = renderUserDataScript({
      files: { 'application.properties': nasty, 'conf/extra.txt': 'x' },
      commands: [`printf '%s' "it's here" > ran.txt`, 'echo $((6 * 7)) > math.txt'],
    });
    // Run it for real, in a temporary directory instead of the instance directory.
    const local = script.replaceAll(INSTANCE_DIR, dir).replace('systemctl start slipway.service', 'true');
    execFileSync('sh', ['-c', local]);
    expect(readFileSync(join(dir, 'application.properties'), 'utf8')).toBe(nasty);
    expect(readFileSync(join(dir, 'conf/extra.txt'), 'utf8')).toBe('x');
    expect(readFileSync(join(dir, 'ran.txt'), 'utf8')).toBe("it's here");
    expect(readFileSync(join(dir, 'math.txt'), 'utf8').trim()).toBe('42');
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a file path that leaves the instance directory', () => {
    expect(() => renderUserDataScript({ files: { '../etc/passwd': 'x' }, commands: [] })).toThrow(/relative/);
    expect(() => renderUserDataScript({ files: { '/etc/passwd': 'x' }, commands: [] })).toThrow(/relative/);
  });

  it('reads back the files and commands it wrote, so a launch template shows what its instances get', () => {
    const userData = { files: { 'application.properties': "a='1'\nb=2\n" }, commands: [`echo "it's" > x`] };
    expect(parseUserDataScript(renderUserDataScript(userData))).toEqual(userData);
  });
});
