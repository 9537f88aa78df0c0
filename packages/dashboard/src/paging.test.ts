import { afterEach, describe, expect, it } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createLogger } from '@slipway/core';
import { createApp } from './app.js';
import type { Cluster, Data } from './data.js';
import type { ReleaseData, SyncView } from './release-pages.js';
import { createSessions } from './session.js';

// A catalog of 300 services × 4 clusters (issue 28): the home page answers with what needs
// attention and a screenful, the whole lists are pages of their own.
const SERVICES = 300;
const envs = ['prod-a', 'prod-b', 'prod-c', 'prod-d'];
const name = (n: number) => `svc${String(n).padStart(4, '0')}`;
const group = (service: string, env: string) => ({
  name: `${service}-${env}-v001`,
  image: 'img-0123456789ab',
  commit: 'c'.repeat(40),
  disabled: false,
  instances: [{ id: 'i-1', address: '127.0.0.1:1', lifecycle: 'running', health: 'healthy' }],
  targetGroups: [],
});
// svc0007 prod-c is deploying and svc0123 prod-a has nothing in service: the two needing attention.
const clusters = Array.from({ length: SERVICES }, (_, n) =>
  envs.map((env) => {
    const service = name(n);
    const broken = n === 123 && env === 'prod-a';
    return {
      service,
      env,
      active: broken ? null : group(service, env),
      retained: [],
      health: broken ? { healthy: 0, instances: 0 } : { healthy: 1, instances: 1 },
      ...(n === 7 && env === 'prod-c' ? { deploying: 'dep-abc123' } : {}),
      // As the orchestrator says it.
      needsAttention: broken || (n === 7 && env === 'prod-c'),
    };
  }),
).flat() as unknown as Cluster[];
const sets: SyncView[] = Array.from({ length: SERVICES }, (_, n) => ({
  service: name(n),
  set: 'prod',
  inSync: n !== 200,
  clusters: envs.map((env) => ({
    env,
    image: n === 200 && env === 'prod-b' ? 'img-old' : 'img-0123456789ab',
    version: null,
    commit: null,
    deployment: null,
    odd: n === 200 && env === 'prod-b',
  })),
  differs: n === 200 ? ['prod-b runs img-old, the others img-0123456789ab'] : [],
}));

const data = {
  deployments: async () => [],
  clusters: async () => clusters,
  // The orchestrator's GET /clusters?order=attention&limit=.
  clusterList: async ({ order, limit }: { order?: string; limit?: number }) => {
    const ordered =
      order === 'attention'
        ? [...clusters.filter((c) => c.needsAttention), ...clusters.filter((c) => !c.needsAttention)]
        : clusters;
    return {
      items: ordered.slice(0, limit),
      total: clusters.length,
      needingAttention: clusters.filter((c) => c.needsAttention).length,
    };
  },
  recentCommits: async () => [],
  accepts: async (token: string) => token === 'good',
} as unknown as Data;
const releases = { releases: async () => [], sync: async () => sets } as unknown as ReleaseData;

const started: Server[] = [];
afterEach(async () => {
  for (const each of started.splice(0)) {
    each.closeAllConnections();
    await new Promise<void>((resolve) => each.close(() => resolve()));
  }
});

async function start() {
  const app = createApp({
    data,
    releases,
    logger: createLogger({ name: 'test', level: 'silent' }),
    refreshMs: 3_600_000,
    sessions: createSessions(),
  });
  const server = app.listen(0, '127.0.0.1');
  started.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signedIn = await fetch(`${base}/signin`, {
    method: 'POST',
    body: new URLSearchParams({ token: 'good', next: '/' }),
    redirect: 'manual',
  });
  const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
  return async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { cookie } });
    expect(res.status).toBe(200);
    return res.text();
  };
}

const shownClusters = (page: string) =>
  [
    ...(/<section id="clusters">[\s\S]*?<\/section>/.exec(page)?.[0] ?? '').matchAll(/data-cluster="([a-z0-9-]+)"/g),
  ].map((m) => m[1]);
const shownSets = (page: string) => [...page.matchAll(/data-sync="([a-z0-9-]+)"/g)].map((m) => m[1]);

describe('the home page at 1,200 clusters', () => {
  it('shows those needing attention first and a screenful, and links to the whole list', async () => {
    const get = await start();
    const home = await get('/');
    const shown = shownClusters(home);
    expect(shown).toHaveLength(20);
    expect(shown.slice(0, 2)).toEqual(['svc0007-prod-c', 'svc0123-prod-a']);
    expect(home).toMatch(/1200 clusters, 2 needing attention; showing 20/);
    expect(home).toContain('href="/clusters?attention=1"');
    expect(home).toContain('href="/clusters"');
    // The sync set out of sync first, the odd one out marked.
    expect(shownSets(home)).toHaveLength(20);
    expect(shownSets(home)[0]).toBe('svc0200-prod');
    expect(home).toMatch(/data-cluster="svc0200-prod-b"\s+data-odd="true"/);
    expect(home).toMatch(/300 sync sets, 1 out of sync; showing 20/);
  });

  it('pages the whole list of clusters, and of sync sets, at /clusters and /sync', async () => {
    const get = await start();
    const first = await get('/clusters');
    expect(shownClusters(first)).toEqual(clusters.slice(0, 100).map((c) => `${c.service}-${c.env}`));
    expect(first).toContain('page 1 of 12');
    expect(first).toContain('href="/clusters?page=2"');
    const last = await get('/clusters?page=12');
    expect(shownClusters(last)).toEqual(clusters.slice(1100).map((c) => `${c.service}-${c.env}`));
    expect(last).not.toContain('rel="next"');
    // A page past the end is the last one; a page that is no number is the first.
    expect(shownClusters(await get('/clusters?page=99'))).toEqual(shownClusters(last));
    expect(shownClusters(await get('/clusters?page=x'))).toEqual(shownClusters(first));
    expect(shownClusters(await get('/clusters?attention=1'))).toEqual(['svc0007-prod-c', 'svc0123-prod-a']);
    expect(shownSets(await get('/sync?page=3'))).toEqual(sets.slice(200, 300).map((s) => `${s.service}-prod`));
    expect(shownSets(await get('/sync?attention=1'))).toEqual(['svc0200-prod']);
  });
});
