import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform, type Platform } from '@slipway/platform';
import type { ComponentName } from '@slipway/core';
import { freePortBase } from '@slipway/test-utils';
import { fuzzCases, type FuzzCase } from './fixtures/fuzz-cases.js';

// Hostile requests for every operation of every service, built from each one's /openapi.json,
// against the platform as `npm start` runs it. Bounded for `npm test`: FUZZ_REQUESTS cases
// drawn with FUZZ_SEED (both printed); set FUZZ_REQUESTS=0 to send every case.
const SERVICES: ComponentName[] = ['metadata', 'config', 'baking', 'infra', 'orchestrator', 'cloud'];
const LIMIT = Number(process.env.FUZZ_REQUESTS ?? 4000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

let home: string;
let platform: Platform;
let died: string | undefined;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-fuzz-'));
  // npm start restarts a process that dies, and says so: the first one said is the one that died.
  platform = await startPlatform({
    home,
    portBase: await freePortBase(87),
    warn: (line) => (died ??= /^(\S+) exited/.exec(line)?.[1]),
  });
}, 180_000);

afterAll(async () => {
  agent.destroy();
  await platform?.stop();
  await rm(home, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: string;
}

function send(
  base: string,
  fuzz: Pick<FuzzCase, 'method' | 'path' | 'headers' | 'body'>,
  fresh = false,
): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const req = request(
      {
        agent: fresh ? false : agent,
        host: url.hostname,
        port: url.port,
        method: fuzz.method,
        path: fuzz.path,
        headers: fuzz.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve({ status: -1, body: 'response aborted' }));
      },
    );
    // A server that refuses a huge body may close before reading it: that is an answer too.
    req.on('error', (error) => resolve({ status: -1, body: error.message }));
    req.end(fuzz.body);
  });
}

/** mulberry32: the same seed draws the same cases. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function draw<T>(items: T[], limit: number, seed: number): T[] {
  if (limit <= 0 || limit >= items.length) return items;
  const next = random(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, limit);
}

/** What is stored, read through the APIs; records the fuzz itself made (named fuzz) left out. */
async function snapshot(): Promise<Record<string, unknown>> {
  const reads: Array<[ComponentName, string]> = [
    ['metadata', '/services?limit=1000'],
    ['metadata', '/services/search'],
    ['metadata', '/services/search/history'],
    ['config', '/config/search'],
    ['baking', '/images'],
    ['infra', '/stacks'],
    ['orchestrator', '/deployments'],
    ['cloud', '/images'],
    ['cloud', '/load-balancers'],
    ['cloud', '/server-groups?cluster=search-prod'],
  ];
  const result: Record<string, unknown> = {};
  for (const [service, path] of reads) {
    const answer = await send(platform.urls[service]!, {
      method: 'GET',
      path,
      headers: { Authorization: `Bearer ${platform.adminToken}` },
    });
    const body = JSON.parse(answer.body) as { items?: unknown[]; total?: number };
    if (Array.isArray(body.items)) {
      const theirs = body.items.filter((item) => JSON.stringify(item).includes('fuzz')).length;
      body.items = body.items.filter((item) => !JSON.stringify(item).includes('fuzz'));
      // A list's count of all (metadata's total) leaves them out alike.
      if (typeof body.total === 'number') body.total -= theirs;
    }
    result[`${service} ${path}`] = { status: answer.status, body };
  }
  return result;
}

describe('hostile input to every operation of every service', () => {
  it('never answers 5xx, changes nothing stored, lets nothing reach a shell, and every service stays up', async () => {
    const admin = { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' };
    const seeded = await send(platform.urls.metadata!, {
      method: 'PUT',
      path: '/services/search',
      headers: admin,
      body: JSON.stringify({ owner: 'team-search', ci: { url: 'https://ci.example.com/search' } }),
    });
    expect(seeded.status).toBeLessThan(300);
    const before = await snapshot();

    const canary = join(home, 'fuzz-canary');
    const all: Array<FuzzCase & { service: ComponentName }> = [];
    for (const service of SERVICES) {
      const document = JSON.parse(
        (await send(platform.urls[service]!, { method: 'GET', path: '/openapi.json', headers: {} })).body,
      );
      for (const fuzz of fuzzCases(document, platform.adminToken, canary)) all.push({ ...fuzz, service });
    }
    const chosen = draw(all, LIMIT, SEED);

    const byStatus: Record<string, number> = {};
    const failures: string[] = [];
    // -1: no answer. A kept-alive connection the server closed (after refusing a body it did not
    // read) gives none either, so such a case is sent once more on a connection of its own.
    const dropped: string[] = [];
    let resent = 0;
    const wrote = new Map<string, string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < chosen.length) {
          const fuzz = chosen[next++]!;
          let answer = await send(platform.urls[fuzz.service]!, fuzz);
          if (answer.status === -1) {
            resent += 1;
            answer = await send(platform.urls[fuzz.service]!, fuzz, true);
          }
          byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
          if (answer.status < 300 && fuzz.method !== 'GET') wrote.set(fuzz.path.split('?')[0]!, fuzz.kind);
          // A server may close on a body over its limit before reading it: no answer is fine there.
          const tooLarge = fuzz.body !== undefined && Buffer.byteLength(fuzz.body) > 1024 * 1024;
          if (answer.status === -1 && tooLarge) {
            dropped.push(`${fuzz.service}: ${fuzz.kind} ${fuzz.path.slice(0, 80)}: ${answer.body}`);
          } else if (answer.status >= 500 || answer.status <= 0 || (fuzz.expect && answer.status !== fuzz.expect)) {
            failures.push(
              `${fuzz.service}: ${fuzz.kind} (${fuzz.path.slice(0, 120)}) → ${answer.status} ${answer.body.slice(0, 200)}`,
            );
          }
        }
      }),
    );
    console.log(
      `fuzz: ${chosen.length} of ${all.length} cases (FUZZ_SEED=${SEED}, FUZZ_REQUESTS=${LIMIT}), by status: ${JSON.stringify(byStatus)}, ${resent} sent again on a new connection`,
    );

    if (dropped.length > 0) console.log(`connections closed on a refused body:\n${dropped.join('\n')}`);
    expect(failures).toEqual([]);
    expect(existsSync(canary)).toBe(false);
    expect(died).toBeUndefined();
    for (const service of SERVICES) {
      const ready = await send(platform.urls[service]!, { method: 'GET', path: '/readyz', headers: {} });
      expect({ service, status: ready.status }).toEqual({ service, status: 200 });
    }
    expect(await snapshot()).toEqual(before);
    // Whatever the fuzz managed to store can be read and deleted again: nothing is poisoned.
    const list = await send(platform.urls.metadata!, { method: 'GET', path: '/services?limit=1000', headers: admin });
    const stored = (JSON.parse(list.body) as { items: Array<{ name: string }> }).items.map((item) => item.name);
    const poisoned: string[] = [];
    for (const name of stored.filter((n) => n.startsWith('fuzz'))) {
      for (const method of ['GET', 'DELETE']) {
        const answer = await send(platform.urls.metadata!, { method, path: `/services/${name}`, headers: admin });
        if (answer.status >= 300) {
          const by = [...wrote].filter(([path]) => path.startsWith(`/services/${name}`)).map(([, kind]) => kind);
          poisoned.push(`${method} /services/${name} → ${answer.status}, written by ${by.join(', ')}`);
        }
      }
    }
    expect(poisoned).toEqual([]);
  }, 240_000);
});
