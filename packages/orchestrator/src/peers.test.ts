import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createGitConfigSource, type ConfigSource } from '@slipway/config';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { gitRepo } from '@slipway/test-utils';
import { httpPeers } from './peers.js';

// The orchestrator's view of the real config service, over HTTP.
const logger = createLogger({ name: 'config', level: 'silent' });
let dir: string;
let source: ConfigSource;
let server: Server;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-peers-'));
  await gitRepo(
    { 'deployment-params.json': { capacity: { desired: 1, min: 1, max: 1 } } },
    { dir: join(dir, 'sources', 'gone-prod') },
  );
  source = createGitConfigSource({
    urlTemplate: `file://${dir}/sources/{service}-{env}`,
    clonesDir: join(dir, 'clones'),
    logger,
    refreshSeconds: 0,
  });
  const app = createApp({ source, tokens: createTokenVerifier({ t: { subject: 'o', role: 'deployer' } }), logger });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('httpPeers().config', () => {
  it('says when the configuration came from a clone the config service could not fetch, and how old it is', async () => {
    const peers = httpPeers({ metadata: url, config: url, baking: url }, 't');
    const fresh = await peers.config('gone', 'prod');
    expect(fresh.stale).toBeUndefined();
    await rm(join(dir, 'sources', 'gone-prod'), { recursive: true, force: true });
    await source.refresh({ service: 'gone', env: 'prod' });
    const stale = await peers.config('gone', 'prod');
    expect(stale.commit).toBe(fresh.commit);
    expect(stale.stale).toMatch(/gone-prod.*; last fetched \d+ s ago$/);
  });
});
