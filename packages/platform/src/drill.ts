/**
 * The supervision drill: under steady traffic to a service deployed in the local cloud, kill
 * each process of the platform in turn with SIGKILL and wait for it to come back. What it
 * measures is what an operator cares about: requests to the service that failed (none should),
 * and how long each process took to serve again.
 */
import { redisAnswers } from '@slipway/core/redis';
import type { Platform } from './platform.js';

export interface DrillOptions {
  platform: Platform;
  /** A URL of the service under traffic (its load balancer). */
  target: string;
  /** How many times each process is killed. */
  rounds?: number;
  /** Requests in flight at once. */
  concurrency?: number;
}

export interface DrillFigures {
  requests: number;
  failures: number;
  /** A sample of what the failed requests saw. */
  failureReasons: string[];
  /** Each kill: the process and the milliseconds until it served again. */
  kills: Array<{ name: string; backMs: number }>;
}

export async function supervisionDrill({
  platform,
  target,
  rounds = 1,
  concurrency = 2,
}: DrillOptions): Promise<DrillFigures> {
  const figures: DrillFigures = { requests: 0, failures: 0, failureReasons: [], kills: [] };
  let traffic = true;
  const fail = (reason: string) => {
    figures.failures++;
    if (figures.failureReasons.length < 10) figures.failureReasons.push(reason);
  };
  const loop = async () => {
    while (traffic) {
      figures.requests++;
      try {
        const res = await fetch(target, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== 200) fail(`HTTP ${res.status}`);
      } catch (error) {
        fail((error as Error).message);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, () => loop());
  try {
    for (let round = 0; round < rounds; round++) {
      for (const running of platform.processes) {
        const restarts = running.restarts;
        const killed = Date.now();
        running.child.kill('SIGKILL');
        await until(
          async () => running.restarts > restarts && running.running && (await serves(platform, running.name)),
          `${running.name} back after a SIGKILL`,
        );
        figures.kills.push({ name: running.name, backMs: Date.now() - killed });
        await until(() => everyServiceReady(platform), 'every service ready again');
      }
    }
  } finally {
    traffic = false;
    await Promise.all(loops);
  }
  return figures;
}

async function serves(platform: Platform, name: string): Promise<boolean> {
  if (name === 'redis') {
    const url = new URL(platform.redisUrl);
    return redisAnswers(Number(url.port), url.password ? decodeURIComponent(url.password) : undefined);
  }
  const url = platform.urls[name as keyof Platform['urls']];
  return !!url && (await fetch(`${url}/healthz`)).ok;
}

/** Every service's /readyz (its Redis, Git and peers reachable again), or /healthz where it has none. */
export async function everyServiceReady(platform: Platform): Promise<boolean> {
  const ready = async (url: string) => {
    const res = await fetch(`${url}/readyz`);
    return res.status === 404 ? (await fetch(`${url}/healthz`)).ok : res.ok;
  };
  const answers = await Promise.all(Object.values(platform.urls).map((url) => ready(url).catch(() => false)));
  return answers.every(Boolean);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
