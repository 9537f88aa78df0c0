import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { artifactId, describeLine, parseMachineReadable } from './packer.js';

describe('parseMachineReadable', () => {
  it('reads ui lines, with PACKER_COMMA and escaped newlines', () => {
    const line = parseMachineReadable('1795373782,,ui,say,==> null: copying a%!(PACKER_COMMA) b\\nand more')!;
    expect(line).toEqual({
      timestamp: 1795373782,
      target: '',
      type: 'ui',
      data: ['say', '==> null: copying a, b\nand more'],
    });
    expect(describeLine(line)).toBe('==> null: copying a, b\nand more');
  });

  it('reads artifact ids, AWS region-prefixed or not', () => {
    expect(artifactId(parseMachineReadable('1,amazon-ebs,artifact,0,id,eu-west-1:ami-0abc')!)).toBe('ami-0abc');
    expect(artifactId(parseMachineReadable('1,null,artifact,0,id,Null')!)).toBe('Null');
    expect(artifactId(parseMachineReadable('1,null,artifact,0,end')!)).toBeUndefined();
  });

  it('ignores what is not a machine-readable line', () => {
    expect(parseMachineReadable('plain text')).toBeUndefined();
  });
});

describe('the templates in infra/packer', () => {
  const vars = [
    '-var',
    'image_id=img-1',
    '-var',
    'service=search',
    '-var',
    'version=1.0.0',
    '-var',
    'artifact=/etc/hostname',
    '-var',
    'base_image=ami-0123456789abcdef0',
  ];
  it.each(['base-local.json', 'service-local.json', 'base-aws.json', 'service-aws.json'])(
    '%s passes packer validate',
    (template) => {
      const out = execFileSync('packer', ['validate', ...vars, template], {
        cwd: new URL('../../../infra/packer/', import.meta.url),
        env: { ...process.env, AWS_REGION: 'eu-west-1', CHECKPOINT_DISABLE: '1' },
        encoding: 'utf8',
      });
      expect(out).not.toMatch(/error/i);
    },
  );
});
