import { afterEach, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createLogger } from '@slipway/core';
import { eventually } from '@slipway/test-utils';
import { createApp } from './app.js';
import { deploymentSections, homePage } from './pages.js';
import type { Data } from './data.js';
import { createSessions } from './session.js';

// /live with a fake Data that counts its reads: every viewer of a page shares one poll.
let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

function countingData() {
  const reads = { clusters: 0, deployments: 0 };
  const data = {
    deployments: async () => {
      reads.deployments++;
      return [];
    },
    clusters: async () => {
      reads.clusters++;
      return [];
    },
    accepts: async (token: string) => token === 'good',
  } as unknown as Data;
  return { data, reads };
}

async function start(data: Data) {
  const sessions = createSessions();
  const app = createApp({
    data,
    logger: createLogger({ name: 'test', level: 'silent' }),
    refreshMs: 3_600_000,
    sessions,
    adminTokenFile: '/srv/slipway-home/admin-token',
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server!.once('listening', resolve));
  const base = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  const signedIn = await fetch(`${base}/signin`, {
    method: 'POST',
    body: new URLSearchParams({ token: 'good', next: '/' }),
    redirect: 'manual',
  });
  const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
  return {
    base,
    cookie,
    live: (app as unknown as { live: { polls: number } }).live,
    setCookie: signedIn.headers.get('set-cookie')!,
  };
}

/** Opens /live and resolves with the section ids it received once `count` have come. */
async function viewer(base: string, cookie: string, controller: AbortController) {
  const response = await fetch(`${base}/live`, { headers: { cookie }, signal: controller.signal });
  const seen: string[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const match of decoder.decode(value).matchAll(/"id":"([a-z]+)"/g)) seen.push(match[1]!);
      }
    } catch {
      // aborted
    }
  })();
  return seen;
}

describe('GET /live', () => {
  it('reads the services once for every viewer of a page, and stops when the last one leaves', async () => {
    const { data, reads } = countingData();
    const { base, cookie, live } = await start(data);
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const viewers = [];
    for (const controller of controllers) viewers.push(await viewer(base, cookie, controller));
    for (const seen of viewers)
      await eventually(
        async () => [...seen].sort(),
        (ids) => ids.length === 3,
        'every viewer to get the three sections',
      );
    expect(reads).toEqual({ clusters: 1, deployments: 1 });
    expect(live.polls).toBe(1);
    for (const controller of controllers) controller.abort();
    await eventually(
      async () => live.polls,
      (n) => n === 0,
      'the poll to stop',
    );
  });

  it('answers 401 without a session, and the sign-in sets an HttpOnly, SameSite=Strict cookie', async () => {
    const { data } = countingData();
    const { base, setCookie } = await start(data);
    expect((await fetch(`${base}/live`)).status).toBe(401);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const page = await fetch(`${base}/`, { redirect: 'manual' });
    expect([page.status, page.headers.get('location')]).toEqual([303, '/signin?next=%2F']);
    // The admin token where npm start wrote it, under this SLIPWAY_HOME, not a guess.
    const signIn = await (await fetch(`${base}/signin?next=%2F`)).text();
    expect(signIn).toContain('<code>/srv/slipway-home/admin-token</code>');
    expect(signIn).not.toContain('.slipway/admin-token');
    const refused = await fetch(`${base}/signin`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'bad', next: 'https://elsewhere.example/' }),
      redirect: 'manual',
    });
    expect([refused.headers.get('location'), refused.headers.get('set-cookie')]).toEqual([
      '/signin?refused=1&next=%2F',
      null,
    ]);
  });
});

describe('what a page reads', () => {
  it('reads the clusters once for the home page, and only its service’s for a deployment’s live sections', async () => {
    const asked: string[] = [];
    const data = {
      deployments: async () => [],
      clusters: async (service?: string) => {
        asked.push(service ?? 'every service');
        return [];
      },
      deployment: async (id: string) => ({
        id,
        service: 'search',
        env: 'prod',
        state: 'running',
        actions: [],
        current: 0,
        context: {},
      }),
    } as unknown as Data;
    await homePage(data);
    expect(asked).toEqual(['every service']);
    asked.length = 0;
    await deploymentSections(data, 'dep-1');
    expect(asked).toEqual(['search']);
  });
});
