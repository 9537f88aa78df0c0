/**
 * User data as EC2 wants it: a shell script cloud-init runs at first boot, base64-encoded by us
 * (the SDK does not). Files are written from base64 and commands passed quoted, so nothing in
 * the configuration can break out of the script.
 */
import type { UserData } from '../provider.js';

/** Where the service runs on a Slipway service image (see infra/packer/service-aws.json). */
export const INSTANCE_DIR = '/opt/slipway/instance';

export function renderUserDataScript(userData: UserData): string {
  const lines = ['#!/bin/sh', 'set -eu', `mkdir -p ${INSTANCE_DIR}`, `cd ${INSTANCE_DIR}`];
  for (const [path, content] of Object.entries(userData.files)) {
    if (path.startsWith('/') || path.split('/').includes('..'))
      throw new Error(`user data file ${path} must be relative`);
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
