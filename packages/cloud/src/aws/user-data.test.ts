import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkUserData } from '../bounds.js';
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

  it("holds user data to EC2's 16 KB on the script itself, not on its base64", () => {
    const properties = (n: number) => ({ files: { 'application.properties': 'x'.repeat(n) }, commands: [] });
    // 11,000 bytes of properties: about 14.8 KB of script (the files travel base64 in it), 19.8 KB
    // once the whole script is base64-encoded for the API. EC2 takes it.
    expect(() => checkUserData('search-prod-v001', properties(11_000))).not.toThrow();
    expect(() => checkUserData('search-prod-v001', properties(13_000))).toThrow(
      /user data is \d+ bytes; EC2 takes at most 16384 \(16 KB\)/,
    );
  });

  it('writes the files readable by their owner only (0600)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-userdata-'));
    const script = renderUserDataScript({ files: { 'application.properties': 'a=1\n' }, commands: [] });
    execFileSync('sh', ['-c', script.replaceAll(INSTANCE_DIR, dir).replace('systemctl start slipway.service', 'true')]);
    expect(statSync(join(dir, 'application.properties')).mode & 0o777).toBe(0o600);
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves ${ssm:…} and ${secretsmanager:…} on the instance, with its role: user data carries the reference, never the secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-userdata-'));
    // The AWS CLI as the instance has it: a stand-in that answers two names, and records what it was asked.
    const bin = join(dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(
      join(bin, 'aws'),
      `#!/bin/sh
echo "$AWS_REGION $AWS_DEFAULT_REGION $*" >> ${dir}/asked.txt
case "$*" in
  *"--name /search/prod/db"*) printf 'p4ss w=rd:#1\\n' ;;
  *"--secret-id search/api-key"*) printf 'k\\\\ey\\n' ;;
  *) echo "not found: $*" >&2; exit 254 ;;
esac
`,
    );
    chmodSync(join(bin, 'aws'), 0o755);
    // As the config service writes them: java.util.Properties escaping (':' and '=' escaped).
    const properties = 'db.password=${ssm\\:/search/prod/db}\napi.key=${secretsmanager\\:search/api-key}\nplain=1\n';
    const script = renderUserDataScript(
      { files: { 'application.properties': properties }, commands: [] },
      { region: 'eu-west-1' },
    );
    expect(script).not.toContain('p4ss');
    const local = script.replaceAll(INSTANCE_DIR, dir).replace('systemctl start slipway.service', 'true');
    // The region for both CLIs: v2 reads AWS_REGION, v1 only AWS_DEFAULT_REGION.
    const { AWS_REGION: _r, AWS_DEFAULT_REGION: _d, ...env } = process.env;
    execFileSync('sh', ['-c', local], { env: { ...env, PATH: `${bin}:${process.env.PATH}` } });
    expect(readFileSync(join(dir, 'application.properties'), 'utf8')).toBe(
      'db.password=p4ss\\ w\\=rd\\:\\#1\napi.key=k\\\\ey\nplain=1\n',
    );
    expect(statSync(join(dir, 'application.properties')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'asked.txt'), 'utf8')).toContain(
      'eu-west-1 eu-west-1 ssm get-parameter --name /search/prod/db',
    );
    // Read back, a launch template shows the reference, as it was configured.
    expect(parseUserDataScript(script).files['application.properties']).toBe(properties);
    rmSync(dir, { recursive: true, force: true });
  });
});
