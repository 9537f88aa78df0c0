/**
 * User data as EC2 wants it: a shell script cloud-init runs at first boot, base64-encoded by us
 * (the SDK does not). Files are written from base64 and commands passed quoted, so nothing in
 * the configuration can break out of the script.
 *
 * User data is readable by anyone allowed DescribeLaunchTemplateVersions, and from the instance's
 * metadata: it must never carry a secret. A property may instead reference one —
 * `${ssm:/search/prod/db-password}` (SSM Parameter Store, decrypted) or
 * `${secretsmanager:search/api-key}` (Secrets Manager) — and the instance resolves it at boot
 * with its own role, through the AWS CLI of the base image; only the reference travels. Files are
 * written readable by their owner only (0600) and handed to the service's user.
 */
import { InputError } from '@slipway/core';
import type { UserData } from '../provider.js';

/** Where the service runs on a Slipway service image (see templates/packer/service-aws.json). */
export const INSTANCE_DIR = '/opt/slipway/instance';

/** A reference to a secret, as written or as java.util.Properties escapes it (`${ssm\\:/a/b}`). */
export const SECRET_REFERENCE = /\$\{(ssm|secretsmanager)\\?:((?:\\.|[^}\\])+)\}/;

/**
 * Run on the instance (node, from the base image): replaces each reference in a file with its
 * value from the AWS CLI (no shell), escaped as a .properties value where the file is one, and
 * writes the file again, 0600. A reference that cannot be read fails the boot, loudly.
 */
const RESOLVER = [
  'const fs=require("fs"),{execFileSync:x}=require("child_process");',
  'const [f,p]=[process.argv[1],process.argv[2]==="1"];',
  'const m={"\\\\":"\\\\\\\\","\\n":"\\\\n","\\r":"\\\\r","\\t":"\\\\t","\\f":"\\\\f"," ":"\\\\ "};',
  'const e=s=>s.replace(/[\\\\\\n\\r\\t\\f =:#!]|[^\\x20-\\x7e]/g,c=>m[c]??(/[=:#!]/.test(c)?"\\\\"+c:"\\\\u"+c.charCodeAt(0).toString(16).padStart(4,"0")));',
  'const g=(k,n)=>x("aws",k==="ssm"?["ssm","get-parameter","--name",n,"--with-decryption","--query","Parameter.Value","--output","text"]:["secretsmanager","get-secret-value","--secret-id",n,"--query","SecretString","--output","text"]).toString().replace(/\\n$/,"");',
  `const t=fs.readFileSync(f,"utf8").replace(/${SECRET_REFERENCE.source}/g,(_,k,n)=>{const v=g(k,n.replace(/\\\\(.)/g,"$1"));return p?e(v):v});`,
  'fs.writeFileSync(f+".tmp",t,{mode:0o600});fs.renameSync(f+".tmp",f);',
].join('');

export interface RenderOptions {
  /** The region the instance resolves its secrets in (its own). */
  region?: string;
}

export function renderUserDataScript(userData: UserData, options: RenderOptions = {}): string {
  const lines = ['#!/bin/sh', 'set -eu', `mkdir -p ${INSTANCE_DIR}`, `cd ${INSTANCE_DIR}`, 'umask 077'];
  for (const [path, content] of Object.entries(userData.files)) {
    if (path.startsWith('/') || path.split('/').includes('..'))
      throw new InputError(`user data file ${path} must be relative`);
    lines.push(`mkdir -p "$(dirname ${quote(path)})"`);
    lines.push(`echo ${quote(Buffer.from(content).toString('base64'))} | base64 -d > ${quote(path)}`);
    if (SECRET_REFERENCE.test(content)) {
      // The region for either AWS CLI: v2 reads AWS_REGION, v1 only AWS_DEFAULT_REGION.
      const region = options.region
        ? `AWS_REGION=${quote(options.region)} AWS_DEFAULT_REGION=${quote(options.region)} `
        : '';
      lines.push(`${region}node -e ${quote(RESOLVER)} ${quote(path)} ${path.endsWith('.properties') ? 1 : 0}`);
    }
  }
  // The service runs as its own user (the base image's `slipway`); commands keep the usual umask.
  lines.push('umask 022', `if id slipway >/dev/null 2>&1; then chown -R slipway:slipway ${INSTANCE_DIR}; fi`);
  for (const command of userData.commands) lines.push(`sh -c ${quote(command)}`);
  lines.push('systemctl start slipway.service', '');
  return lines.join('\n');
}

export function encodeUserData(userData: UserData, options: RenderOptions = {}): string {
  return Buffer.from(renderUserDataScript(userData, options)).toString('base64');
}

/** Single-quoted for sh: the only character to escape is the single quote itself. */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

/**
 * The files and commands back from a script renderUserDataScript wrote, so that a launch
 * template read from AWS shows what its instances get. Lines it did not write are skipped.
 */
export function parseUserDataScript(script: string): UserData {
  const files: Record<string, string> = {};
  const commands: string[] = [];
  const quoted = `'((?:[^']|'"'"')*)'`;
  const file = new RegExp(`^echo ${quoted} \\| base64 -d > ${quoted}$`);
  const command = new RegExp(`^sh -c ${quoted}$`);
  const unquote = (text: string) => text.replaceAll(`'"'"'`, "'");
  for (const line of script.split('\n')) {
    const f = file.exec(line);
    if (f) files[unquote(f[2]!)] = Buffer.from(unquote(f[1]!), 'base64').toString();
    const c = command.exec(line);
    if (c) commands.push(unquote(c[1]!));
  }
  return { files, commands };
}
