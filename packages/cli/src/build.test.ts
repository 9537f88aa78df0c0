import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger, createTokenVerifier } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { createApp, createRedisServiceStore } from '@slipway/metadata';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, plain } from '../../../test/e2e/slipway.js';

// `slipway build` as an engineer or CI runs it, against a metadata service a deployer can write.
let redisServer: TestRedis;
let redis: Redis;
let server: Server;
let checkout: string;
let run: ReturnType<typeof cli>;
const tokens = createTokenVerifier({ 'deployer-token': { subject: 'mallory', role: 'deployer' } });

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url, keyPrefix: redisServer.prefix() });
  const app = createApp({
    store: createRedisServiceStore({ redis }),
    tokens,
    logger: createLogger({ name: 'metadata', level: 'silent' }),
    redis,
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  checkout = await mkdtemp(join(tmpdir(), 'slipway-checkout-'));
  await writeFile(join(checkout, 'package.json'), JSON.stringify({ name: 'search', version: '1.0.0' }));
  // What any deployer may write: a build command that runs on whoever builds the service.
  const steal = ['node', '-e', 'require("fs").writeFileSync("stolen", process.env.SLIPWAY_TOKEN ?? "")'];
  const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/services/search`, {
    method: 'PUT',
    headers: { Authorization: 'Bearer deployer-token', 'Content-Type': 'application/json' },
    body: JSON.stringify({ build: { command: steal } }),
  });
  expect(answer.status).toBe(201);
  run = cli({
    SLIPWAY_METADATA_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    SLIPWAY_BAKING_URL: 'http://127.0.0.1:9',
    SLIPWAY_TOKEN: 'deployer-token',
    SLIPWAY_HOME: checkout,
  });
});

afterAll(async () => {
  server.close();
  await redis.quit();
  await redisServer.stop();
  await rm(checkout, { recursive: true, force: true });
});

describe('the binary: a start-up bundle, each command loaded as it runs', () => {
  it("says a command's usage error in words and exits 2, and knows its own version", async () => {
    const fish = await run.slipway(['completion', 'fish']);
    expect(fish).toMatchObject({ code: 2, stderr: 'slipway: no completion for fish: bash or zsh\n' });
    const version = await run.slipway(['--version']);
    expect(version.stdout.trim()).toBe(
      (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version,
    );
  });
});

describe('slipway build: the build command (#24 attack 3)', () => {
  it("never runs the metadata's build command without a terminal to ask on, and says how to trust it", async () => {
    const built = await run.slipway(['build', 'search', '--dir', checkout], {
      env: { SLIPWAY_TOKEN: 'deployer-token' },
    });
    expect(built.code).not.toBe(0);
    expect(built.stderr).toMatch(/build command .*from the service's metadata/);
    expect(built.stderr).toMatch(/--trust-build-command/);
    expect(existsSync(join(checkout, 'stolen'))).toBe(false);
  });

  it('shows it on a terminal and runs nothing when the answer is no', async () => {
    const asked = await run.onTerminal(['build', 'search', '--dir', checkout], (screen) =>
      /Run it\?/.test(plain(screen)) ? 'n\r' : undefined,
    );
    expect(plain(asked.stdout)).toMatch(/node -e require\("fs"\)/);
    expect(asked.code).not.toBe(0);
    expect(existsSync(join(checkout, 'stolen'))).toBe(false);
  });

  it('runs it when trusted on purpose, without the Slipway token in its environment', async () => {
    const built = await run.slipway(['build', 'search', '--dir', checkout, '--trust-build-command']);
    expect(built.stderr).toMatch(/the build made no \.tgz/);
    expect(existsSync(join(checkout, 'stolen'))).toBe(true);
    expect(await import('node:fs/promises').then((fs) => fs.readFile(join(checkout, 'stolen'), 'utf8'))).toBe('');
    await rm(join(checkout, 'stolen'));
  });

  it("runs the command the repository's slipway.json names, as the checkout's own code", async () => {
    await writeFile(
      join(checkout, 'slipway.json'),
      JSON.stringify({ build: { command: ['node', '-e', 'require("fs").writeFileSync("built", "")'] } }),
    );
    try {
      const built = await run.slipway(['build', 'search', '--dir', checkout]);
      expect(built.stderr).toMatch(/the build made no \.tgz/);
      expect(existsSync(join(checkout, 'built'))).toBe(true);
      expect(existsSync(join(checkout, 'stolen'))).toBe(false);
    } finally {
      await rm(join(checkout, 'slipway.json'));
      await rm(join(checkout, 'built'), { force: true });
    }
  });
});

describe('slipway build: a directory that is not a package', () => {
  it('says there is no package.json to pack, and how to build something else', async () => {
    const metadata = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const registered = await fetch(`${metadata}/services/plain`, {
      method: 'PUT',
      headers: { Authorization: 'Bearer deployer-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ owner: 'team' }),
    });
    expect(registered.status).toBe(201);
    const empty = await mkdtemp(join(tmpdir(), 'slipway-notpkg-'));
    try {
      await writeFile(join(empty, 'notes.txt'), 'hello\n');
      const built = await run.slipway(['build', 'plain', '--dir', empty]);
      expect(built.code).toBe(1);
      expect(built.stderr).toContain(`no package.json in ${empty}`);
      expect(built.stderr).toMatch(/slipway\.json/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
