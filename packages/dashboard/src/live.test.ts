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
const started: Server[] = [];
afterEach(async () => {
  for (const each of started.splice(0)) {
    each.closeAllConnections();
    await new Promise<void>((resolve) => each.close(() => resolve()));
  }
});

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
    clusterList: async () => {
      reads.clusters++;
      return { items: [], total: 0, needingAttention: 0 };
    },
    accepts: async (token: string) => token === 'good',
  } as unknown as Data;
  return { data, reads };
}

async function start(data: Data, options: Partial<Parameters<typeof createApp>[0]> = {}) {
  const app = createApp({
    data,
    logger: createLogger({ name: 'test', level: 'silent' }),
    refreshMs: 3_600_000,
    // The app's own sessions (which ask whether a token is still accepted) when a test sets their pace.
    ...('sessionRecheckMs' in options ? {} : { sessions: createSessions() }),
    ...options,
  });
  server = app.listen(0, '127.0.0.1');
  started.push(server);
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
    const signIn = await (await fetch(`${base}/signin?next=%2F`)).text();
    expect(signIn).toContain('<code>admin-token</code>');
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

describe('the dashboard under attack (#24)', () => {
  const signIn = (base: string, token: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/signin`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ token, next: '/' }),
      redirect: 'manual',
    });

  it('serves every page under a strict Content-Security-Policy: no inline script, nothing from elsewhere (attack 5)', async () => {
    const { data } = countingData();
    const { base, cookie } = await start(data);
    for (const path of ['/signin', '/', '/nowhere']) {
      const page = await fetch(`${base}${path}`, { headers: { cookie } });
      const policy = page.headers.get('content-security-policy') ?? '';
      expect({ path, policy }).toEqual({ path, policy: expect.stringContaining("script-src 'self'") });
      expect(policy).toContain("default-src 'self'");
      expect(policy).toContain("object-src 'none'");
      expect(policy).not.toContain('unsafe-inline');
    }
  });

  it('follows only pages that can exist, and only so many at once: 429 with Retry-After beyond (attack 6)', async () => {
    const { data } = countingData();
    const { base, cookie, live } = await start(data, { maxLiveFeeds: 10 });
    const controllers: AbortController[] = [];
    const statuses: number[] = [];
    try {
      expect(
        (await fetch(`${base}/live?deployment=${encodeURIComponent('../../deployments')}`, { headers: { cookie } }))
          .status,
      ).toBe(400);
      for (let i = 0; i < 100; i++) {
        const controller = new AbortController();
        controllers.push(controller);
        const answer = await fetch(`${base}/live?deployment=dep-${String(i).padStart(6, '0')}`, {
          headers: { cookie },
          signal: controller.signal,
        });
        statuses.push(answer.status);
        if (answer.status === 429) expect(answer.headers.get('retry-after')).toBe('10');
      }
      expect(live.polls).toBe(10);
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(90);
    } finally {
      for (const controller of controllers) controller.abort();
    }
  });

  it('names no path on the host on the sign-in page (attack 11)', async () => {
    const { data } = countingData();
    // As npm start runs it, knowing where its admin token is.
    const { base } = await start(data, { ...({ adminTokenFile: '/srv/slipway-home/admin-token' } as object) });
    const page = await (await fetch(`${base}/signin`)).text();
    expect(page).not.toMatch(/\/[\w.-]+\/[\w.-]*admin-token/);
  });

  it('marks the cookie Secure behind a TLS proxy when told to trust it (SLIPWAY_TRUST_PROXY) (attack 12)', async () => {
    const { data } = countingData();
    const proxied = await start(data, { trustProxy: true });
    const https = await signIn(proxied.base, 'good', { 'X-Forwarded-Proto': 'https' });
    expect(https.headers.get('set-cookie')).toMatch(/; Secure/);
    // Not told to trust a proxy, the header is anyone's to send: no claim of HTTPS.
    const { base } = await start(data);
    expect((await signIn(base, 'good', { 'X-Forwarded-Proto': 'https' })).headers.get('set-cookie')).not.toMatch(
      /Secure/,
    );
  });

  it('ends a session once its token is no longer accepted (attack 12)', async () => {
    const accepted = new Set(['good']);
    const data = { ...countingData().data, accepts: async (token: string) => accepted.has(token) } as Data;
    const { base } = await start(data, { sessionRecheckMs: 0 });
    const cookie = (await signIn(base, 'good')).headers.get('set-cookie')!.split(';')[0]!;
    expect((await fetch(`${base}/nowhere`, { headers: { cookie }, redirect: 'manual' })).status).toBe(404);
    accepted.delete('good'); // the token is removed from tokens.json
    const after = await fetch(`${base}/nowhere`, { headers: { cookie }, redirect: 'manual' });
    expect([after.status, after.headers.get('location')]).toEqual([303, '/signin?next=%2Fnowhere']);
    expect((await fetch(`${base}/live`, { headers: { cookie } })).status).toBe(401);
  });

  it('limits sign-in attempts from one address: guessing tokens gets 429, and the services are not asked (attack 12)', async () => {
    let asked = 0;
    const data = { ...countingData().data, accepts: async (token: string) => (asked++, token === 'good') } as Data;
    // Five attempts a window here: start() signs in once, then four guesses are answered.
    const { base } = await start(data, { signInLimit: 5 });
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await signIn(base, `guess-${i}`)).status);
    expect(answers).toEqual([303, 303, 303, 303, 429, 429]);
    expect(asked).toBe(5);
  });
});

describe('what a page reads', () => {
  it('reads a screenful of clusters once for the home page, and only its service’s for a deployment’s live sections', async () => {
    const asked: string[] = [];
    const data = {
      deployments: async () => [],
      recentCommits: async () => [],
      clusters: async (service?: string) => {
        asked.push(service ?? 'every service');
        return [];
      },
      clusterList: async (query: { order?: string; limit?: number }) => {
        asked.push(`${query.limit} of every service, by ${query.order}`);
        return { items: [], total: 0, needingAttention: 0 };
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
    expect(asked).toEqual(['20 of every service, by attention']);
    asked.length = 0;
    await deploymentSections(data, 'dep-1');
    expect(asked).toEqual(['search']);
  });
});
