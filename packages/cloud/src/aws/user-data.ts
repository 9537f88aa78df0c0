/**
 * User data as EC2 wants it: a shell script cloud-init runs at first boot, base64-encoded by us
 * (the SDK does not). Files are written from base64 and commands passed quoted, so nothing in
 * the configuration can break out of the script.
 */
import { InputError } from '@slipway/core';
import type { UserData } from '../provider.js';

/** Where the service runs on a Slipway service image (see infra/packer/service-aws.json). */
export const INSTANCE_DIR = '/opt/slipway/instance';

export function renderUserDataScript(userData: UserData): string {
  const lines = ['#!/bin/sh', 'set -eu', `mkdir -p ${INSTANCE_DIR}`, `cd ${INSTANCE_DIR}`];
  for (const [path, content] of Object.entries(userData.files)) {
    if (path.startsWith('/') || path.split('/').includes('..'))
      throw new InputError(`user data file ${path} must be relative`);
    lines.push(`mkdir -p "$(dirname ${quote(path)})"`);
    lines.push(`echo ${quote(Buffer.from(content).toString('base64'))} | base64 -d > ${quote(path)}`);
  }
  for (const command of userData.commands) lines.push(`sh -c ${quote(command)}`);
  lines.push('systemctl start slipway.service', '');
  return lines.join('\n');
}

export function encodeUserData(userData: UserData): string {
  return Buffer.from(renderUserDataScript(userData)).toString('base64');
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
