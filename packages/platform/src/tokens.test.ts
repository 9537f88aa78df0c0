import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { actAsHeader, authorize, hashToken, loadTokenVerifier, type TokenVerifier } from '@slipway/core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTokens, type PlatformTokens } from './tokens.js';

let home: string;
let tokens: PlatformTokens;
let verifier: TokenVerifier;
const SERVICES = ['cloud', 'metadata', 'config', 'baking', 'infra', 'orchestrator', 'chat'];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-tokens-'));
  tokens = await ensureTokens(home, SERVICES);
  verifier = loadTokenVerifier(tokens.tokensFile);
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

const as = (token: string) => `Bearer ${token}`;

describe("the platform's own tokens (#24 attack 13)", () => {
  it('gives no service a deployer of its own: each has the least role it needs', () => {
    for (const service of SERVICES)
      expect(() => authorize(verifier, as(tokens.services[service]!), 'deployer')).toThrow(/needs the deployer role/);
    // Those that drive the cloud write it; the others only read.
    for (const service of ['orchestrator', 'baking', 'infra'])
      expect(authorize(verifier, as(tokens.services[service]!), 'platform').role).toBe('platform');
    for (const service of ['cloud', 'metadata', 'config', 'chat'])
      expect(() => authorize(verifier, as(tokens.services[service]!), 'platform')).toThrow(/needs the platform role/);
    // A person's role, however high, is not the platform's.
    expect(() => authorize(verifier, as(tokens.admin), 'platform')).toThrow(/needs the platform role; admin has admin/);
  });

  it('lets chat act only for the person it names, never above them nor above deployer', () => {
    const chat = as(tokens.services.chat!);
    const alice = actAsHeader({ subject: 'alice', role: 'deployer', via: 'slack' });
    expect(authorize(verifier, chat, 'deployer', alice)).toMatchObject({ subject: 'alice', role: 'deployer' });
    const bob = actAsHeader({ subject: 'bob', role: 'reader', via: 'slack' });
    expect(() => authorize(verifier, chat, 'deployer', bob)).toThrow(/needs the deployer role; bob has reader/);
    const ada = actAsHeader({ subject: 'ada', role: 'admin', via: 'slack' });
    expect(() => authorize(verifier, chat, 'reader', ada)).toThrow(/may not act with the admin role/);
    expect(() =>
      authorize(verifier, chat, 'reader', actAsHeader({ subject: 'x', role: 'platform', via: 'slack' })),
    ).toThrow(/may not act with the platform role/);
  });
});

describe("people's tokens in tokens.json", () => {
  it('keeps the people a team added across a restart, and still makes its own', async () => {
    const file = JSON.parse(await readFile(tokens.tokensFile, 'utf8'));
    file[`sha256:${hashToken('alice-token')}`] = { subject: 'alice', role: 'deployer' };
    file['ci-plain-token'] = { subject: 'ci', role: 'ci' };
    await writeFile(tokens.tokensFile, JSON.stringify(file));
    const again = await ensureTokens(home, SERVICES); // npm start once more
    const after = loadTokenVerifier(again.tokensFile);
    expect(authorize(after, as('alice-token'), 'deployer')).toMatchObject({ subject: 'alice', role: 'deployer' });
    expect(authorize(after, as('ci-plain-token'), 'ci')).toMatchObject({ subject: 'ci', role: 'ci' });
    expect(again.admin).toBe(tokens.admin);
    expect(authorize(after, as(again.admin), 'admin').role).toBe('admin');
  });
});
