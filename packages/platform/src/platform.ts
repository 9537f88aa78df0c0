/**
 * The whole platform on one machine: a redis-server of its own (unless REDIS_URL is given),
 * then every service on SLIPWAY_PORT_BASE + its offset, each a `node packages/<name>/dist/main.js`
 * configured only by environment, as in production. Each process is supervised: one that dies
 * is started again with backoff while the others (and the local cloud's instances and load
 * balancers, which run apart from its daemon) keep serving.
 */
import { PORT_OFFSETS, type ComponentName } from '@slipway/core';
import { redisAnswers } from '@slipway/core/redis';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild, superviseProcess, tail, waitFor, type SupervisedProcess } from './processes.js';
import { ensureExampleConfigRepos, ensureExampleInfraRepo } from './examples.js';
import { ensureChatFiles, ensureTokens } from './tokens.js';
import { checkPortsFree, lockHome } from './home-lock.js';

/** Redis, when the platform starts its own, listens on the base port + this. */
export const REDIS_PORT_OFFSET = 9;

/** The services `npm start` runs, in start order (peers before those that call them). */
export const SERVICES: readonly ComponentName[] = [
  'cloud',
  'metadata',
  'config',
  'baking',
  'infra',
  'orchestrator',
  'chat',
  'dashboard',
];

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export interface PlatformOptions {
  home: string;
  portBase: number;
  /** A Redis to use instead of starting one. */
  redisUrl?: string;
  /** Extra environment for every service. */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Where supervision is said: a process that died, its restart, its return. */
  warn?: (line: string) => void;
  /** Size at which a process's log file rolls over (pino-roll's notation); default SLIPWAY_LOG_SIZE or 10m. */
  logSize?: string;
}

export interface Platform {
  home: string;
  redisUrl: string;
  urls: Partial<Record<ComponentName, string>>;
  adminToken: string;
  readerToken: string;
  /** Each service's own token (orchestrator's, baking's, infra's: the platform role that writes the local cloud). */
  serviceTokens: Record<string, string>;
  /** Every process it supervises, Redis (when its own) first, in start order. */
  processes: readonly SupervisedProcess[];
  stop(): Promise<void>;
}

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const log = options.log ?? (() => {});
  const home = resolve(options.home);
  await ensurePrivateHome(home, options.warn ?? log);
  const logs = join(home, 'logs');
  await mkdir(logs, { recursive: true });
  const warn = options.warn ?? log;
  const logSize = options.logSize ?? process.env.SLIPWAY_LOG_SIZE ?? '10m';
  // Nothing is written or started before the home is this platform's and its ports are free.
  const lock = await lockHome(home, options.portBase);
  try {
    await checkPortsFree(options.portBase, SERVICES, options.redisUrl ? undefined : REDIS_PORT_OFFSET);
  } catch (error) {
    await lock.unlock();
    throw error;
  }
  const processes: SupervisedProcess[] = [];
  const stop = async () => {
    // Services first, Redis last: they flush to it on the way down.
    for (const running of [...processes].reverse()) {
      if (running.name === 'cloud' && !running.running) {
        // Its instances and load balancers outlive it: a daemon down now (dead, waiting for its
        // restart) is started once more so that, stopped, it stops them.
        running.resume();
        await waitFor('cloud', async () => (await fetch(`${cloudUrl}/healthz`)).ok, 20_000).catch(() => {});
      }
      await running.stop();
    }
    await lock.unlock();
  };
  const cloudUrl = `http://127.0.0.1:${options.portBase + PORT_OFFSETS.cloud}`;

  try {
    let redisUrl = options.redisUrl;
    if (!redisUrl) {
      const port = options.portBase + REDIS_PORT_OFFSET;
      const dir = join(home, 'redis');
      await mkdir(dir, { recursive: true });
      // A password of its own, so that no other local user reads or rewrites the platform's records:
      // in a file only its owner reads, and in the config file, never on a command line (ps shows those).
      const password = await ensureRedisPassword(home);
      const config = join(dir, 'redis.conf');
      await writeFile(config, `requirepass ${password}\n`, { mode: 0o600 });
      await chmod(config, 0o600);
      const redis = await superviseProcess(
        'redis',
        'redis-server',
        [config, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''],
        {
          env: process.env,
          logDir: join(logs, 'redis'),
          logSize,
          ready: () => redisAnswers(port, password),
          say: warn,
        },
      );
      processes.push(redis);
      await waitFor(
        'redis-server',
        () => redisAnswers(port, password),
        10_000,
        () => redis.restarts > 0 || !redis.running,
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}: ${await tail(redis.logFile, 5)}`);
      });
      redisUrl = `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`;
      log(`redis         redis://127.0.0.1:${port} (data in ${dir}, its password in ${join(home, REDIS_PASSWORD)})`);
    }

    const tokens = await ensureTokens(
      home,
      SERVICES.filter((name) => name !== 'dashboard'),
    );
    const configRepoUrl =
      options.env?.SLIPWAY_CONFIG_REPO_URL ??
      process.env.SLIPWAY_CONFIG_REPO_URL ??
      (await ensureExampleConfigRepos(join(ROOT, 'examples', 'config'), home));
    const infraRepoUrl =
      options.env?.SLIPWAY_INFRA_REPO_URL ??
      process.env.SLIPWAY_INFRA_REPO_URL ??
      (await ensureExampleInfraRepo(join(ROOT, 'examples', 'infra'), home, options.portBase));
    await ensureChatFiles(home);
    const urls: Platform['urls'] = {};
    for (const name of SERVICES) urls[name] = `http://127.0.0.1:${options.portBase + PORT_OFFSETS[name]}`;
    const peers = Object.fromEntries(SERVICES.map((name) => [`SLIPWAY_${name.toUpperCase()}_URL`, urls[name]]));

    for (const name of SERVICES) {
      const main = join(ROOT, 'packages', name, 'dist', 'main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: build first (pnpm build)`);
      const port = options.portBase + PORT_OFFSETS[name];
      const healthy = async () => (await fetch(`${urls[name]}/healthz`)).ok;
      const running = await superviseProcess(name, process.execPath, [main], {
        cwd: ROOT,
        logDir: join(logs, name),
        logSize,
        ready: healthy,
        say: warn,
        env: {
          ...process.env,
          ...peers,
          ...options.env,
          PORT: String(port),
          REDIS_URL: redisUrl,
          SLIPWAY_HOME: home,
          SLIPWAY_PORT_BASE: String(options.portBase),
          // The local cloud rolls its instances' and load balancers' logs at the same size.
          SLIPWAY_LOG_SIZE: logSize,
          SLIPWAY_TOKENS_FILE: tokens.tokensFile,
          // The dashboard reads with the reader token; every other service has its own deployer one.
          SLIPWAY_TOKEN: name === 'dashboard' ? tokens.dashboard : tokens.services[name],
          SLIPWAY_CLOUD: options.env?.SLIPWAY_CLOUD ?? process.env.SLIPWAY_CLOUD ?? 'local',
          SLIPWAY_CONFIG_REPO_URL: configRepoUrl,
          SLIPWAY_INFRA_REPO_URL: infraRepoUrl,
        },
      });
      processes.push(running);
      await waitFor(name, healthy, 20_000, () => running.restarts > 0 || !running.running).catch(
        async (error: Error) => {
          throw new Error(`${error.message}; the end of ${running.logFile}:\n${await tail(running.logFile)}`);
        },
      );
      log(`${name.padEnd(13)} ${urls[name]}`);
    }
    return {
      home,
      redisUrl,
      urls,
      adminToken: tokens.admin,
      readerToken: tokens.dashboard,
      serviceTokens: tokens.services,
      processes,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export { stopChild };

const REDIS_PASSWORD = 'redis-password';

/** $SLIPWAY_HOME readable by its owner only: Redis data, tokens, the cloud's state and logs live there. */
async function ensurePrivateHome(home: string, warn: (line: string) => void): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  if (((await stat(home)).mode & 0o077) === 0) return;
  try {
    await chmod(home, 0o700);
  } catch (error) {
    warn(`${home} is readable by other users and could not be made private: ${(error as Error).message}`);
  }
}

/** The platform Redis's password: made once, kept in $SLIPWAY_HOME/redis-password (0600). */
async function ensureRedisPassword(home: string): Promise<string> {
  const file = join(home, REDIS_PASSWORD);
  const known = existsSync(file) ? (await readFile(file, 'utf8')).trim() : '';
  const password = known || randomBytes(24).toString('hex');
  if (!known) await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}
