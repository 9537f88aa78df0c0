import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { artifactId, describeLine, parseMachineReadable } from './packer.js';
import { builderSettingsFromEnv } from './wiring.js';

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

describe('the templates in templates/packer', () => {
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
    ...['bake_id=bake-1', 'image_name=search-1.0.0-img-1', 'vpc_id=vpc-1', 'subnet_id=subnet-1']
      .concat(['ssh_source_cidr=10.0.0.0/16'])
      .flatMap((v) => ['-var', v]),
  ];
  it.each(['base-local.json', 'service-local.json', 'base-aws.json', 'service-aws.json'])(
    '%s passes packer validate',
    (template) => {
      const out = execFileSync('packer', ['validate', ...vars, template], {
        cwd: new URL('../../../templates/packer/', import.meta.url),
        env: { ...process.env, AWS_REGION: 'eu-west-1', CHECKPOINT_DISABLE: '1' },
        encoding: 'utf8',
      });
      expect(out).not.toMatch(/error/i);
    },
  );
});

describe('the AWS templates', () => {
  const template = (name: string) =>
    JSON.parse(readFileSync(new URL(`../../../templates/packer/${name}`, import.meta.url), 'utf8')) as {
      variables: Record<string, string>;
      builders: Record<string, unknown>[];
      provisioners: { inline?: string[] }[];
    };

  it.each(['base-aws.json', 'service-aws.json'])(
    '%s places its builder in a subnet, reachable from the VPC only, its boot volume encrypted, tagged with the bake',
    (name) => {
      const { builders, variables } = template(name);
      expect(builders[0]).toMatchObject({
        vpc_id: '{{user `vpc_id`}}',
        subnet_id: '{{user `subnet_id`}}',
        ssh_interface: '{{user `ssh_interface`}}',
        temporary_security_group_source_cidrs: ['{{user `ssh_source_cidr`}}'],
        temporary_key_pair_name: 'slipway-bake-{{user `bake_id`}}',
        encrypt_boot: true,
        run_tags: { 'slipway:bake': '{{user `bake_id`}}' },
        run_volume_tags: { 'slipway:bake': '{{user `bake_id`}}' },
        ami_name: '{{user `image_name`}}',
      });
      expect(variables.ssh_interface).toBe('private_ip');
      expect(JSON.stringify(builders)).not.toContain('0.0.0.0/0');
    },
  );

  it('enables the service unit, started once user data wrote the properties, so an instance serves after a reboot', () => {
    const inline = template('service-aws.json').provisioners.flatMap((p) => p.inline ?? []);
    const unit = inline.find((line) => line.includes('slipway.service'))!;
    expect(unit).toContain('ConditionPathExists=/opt/slipway/instance/application.properties');
    expect(unit).toContain('[Install]\\nWantedBy=multi-user.target');
    expect(inline).toContain('systemctl enable slipway.service');
  });
});

describe('builderSettingsFromEnv', () => {
  it('takes the SLIPWAY_BAKE_* settings, and refuses SSH from the whole internet', () => {
    expect(
      builderSettingsFromEnv({ SLIPWAY_BAKE_SSH_INTERFACE: 'session_manager', SLIPWAY_BAKE_SUBNET_ID: 'subnet-2' }),
    ).toEqual({ sshInterface: 'session_manager', subnetId: 'subnet-2' });
    expect(() => builderSettingsFromEnv({ SLIPWAY_BAKE_SSH_CIDR: '0.0.0.0/0' })).toThrow(
      'SLIPWAY_BAKE_SSH_CIDR must not open SSH to the internet (0.0.0.0/0): name your own range',
    );
  });
});
