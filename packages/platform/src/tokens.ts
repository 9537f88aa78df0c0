/**
 * The tokens of a local platform: an admin token for people (`$SLIPWAY_HOME/admin-token`, read
 * by the CLI), a reader token for the dashboard and a token per service for calling peers.
 * tokens.json, which the services read, holds only their sha256; the plain tokens stay in
 * files only the owner can read. Made once and kept, so a restart keeps the CLI's token valid.
 */
import { generateToken, hashToken, type Principal, type Role } from '@slipway/core';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PlatformTokens {
  admin: string;
  dashboard: string;
  /** component name → its own token */
  services: Record<string, string>;
  /** Path of tokens.json (hashes only), for SLIPWAY_TOKENS_FILE. */
  tokensFile: string;
}

const SECRETS = 'secrets.json';

/**
 * Each service's token has the least role it needs: the ones that drive the cloud (launch
 * templates, server groups, load balancers, images) are `platform`, which reads and writes the
 * local cloud and nothing a person's role does; chat is a delegate that acts only for the Slack
 * person it names, never above deployer (on its own, a reader); the rest only read peers.
 */
export const SERVICE_ROLES: Record<string, Role> = {
  orchestrator: 'platform',
  baking: 'platform',
  infra: 'platform',
  chat: 'deployer',
};

export async function ensureTokens(home: string, services: string[]): Promise<PlatformTokens> {
  await mkdir(home, { recursive: true });
  const secretsPath = join(home, SECRETS);
  const secrets: { admin?: string; dashboard?: string; services?: Record<string, string> } = existsSync(secretsPath)
    ? JSON.parse(await readFile(secretsPath, 'utf8'))
    : {};
  const admin = secrets.admin ?? generateToken();
  const dashboard = secrets.dashboard ?? generateToken();
  const serviceTokens: Record<string, string> = { ...secrets.services };
  for (const service of services) serviceTokens[service] ??= generateToken();

  const entries: Record<string, Principal> = {};
  const add = (token: string, subject: string, role: Role, delegate = false) => {
    entries[`sha256:${hashToken(token)}`] = { subject, role, ...(delegate ? { delegate: true } : {}) };
  };
  add(admin, 'admin', 'admin');
  add(dashboard, 'dashboard', 'reader');
  for (const [service, token] of Object.entries(serviceTokens))
    add(token, `service:${service}`, SERVICE_ROLES[service] ?? 'reader', service === 'chat');

  // The people a team added to tokens.json (anyone but the admin, the dashboard and the
  // services, whose entries are made again above) are kept: a restart must not lock them out.
  const tokensFile = join(home, 'tokens.json');
  const managed = (subject: unknown) =>
    subject === 'admin' || subject === 'dashboard' || (typeof subject === 'string' && subject.startsWith('service:'));
  if (existsSync(tokensFile)) {
    const before = JSON.parse(await readFile(tokensFile, 'utf8')) as Record<string, Principal>;
    for (const [key, principal] of Object.entries(before))
      if (!managed(principal?.subject) && !(key in entries)) entries[key] = principal;
  }
  await writeFile(secretsPath, `${JSON.stringify({ admin, dashboard, services: serviceTokens }, null, 2)}\n`, {
    mode: 0o600,
  });
  await writeFile(tokensFile, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
  await writeFile(join(home, 'admin-token'), `${admin}\n`, { mode: 0o600 });
  return { admin, dashboard, services: serviceTokens, tokensFile };
}

/**
 * What the chat service reads: the Slack app's signing secret (a random one until a team pastes
 * theirs, so the local stand-in for Slack can sign) and the Slack user → Slipway person map
 * (empty until someone is added).
 */
export async function ensureChatFiles(home: string): Promise<void> {
  const secret = join(home, 'slack-signing-secret');
  if (!existsSync(secret)) await writeFile(secret, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
  const users = join(home, 'chat-users.json');
  if (!existsSync(users)) await writeFile(users, '{}\n', { mode: 0o600 });
}
