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

interface ClusterQuery {
  service?: string[];
  order?: string;
  limit?: number;
  offset?: number;
  attention?: boolean;
}
/** What the pages asked of the orchestrator's GET /clusters. */
const asked: ClusterQuery[] = [];
const catalog = Array.from({ length: SERVICES }, (_, n) => ({ name: name(n), metadata: { owner: `team${n % 7}` } }));
const data = {
  deployments: async () => [],
  // Every cluster described: what no page of a list should need (issue 28).
  clusters: async () => {
    throw new Error('every cluster was read to show a page of them');
  },
  // The orchestrator's GET /clusters, as it answers.
  clusterList: async (query: ClusterQuery) => {
    asked.push(query);
    const { service, order, limit, offset = 0, attention } = query;
    const theirs = service ? clusters.filter((c) => service.includes(c.service)) : clusters;
    const ordered =
      order === 'attention'
        ? [...theirs.filter((c) => c.needsAttention), ...theirs.filter((c) => !c.needsAttention)]
        : theirs;
    return {
      items: (attention ? ordered.filter((c) => c.needsAttention) : ordered).slice(
        offset,
        limit === undefined ? undefined : offset + limit,
      ),
      total: theirs.length,
      needingAttention: theirs.filter((c) => c.needsAttention).length,
    };
  },
  // The metadata service's GET /services?limit=&offset=.
  servicePage: async (page: number, size: number) => ({
    items: catalog.slice((page - 1) * size, page * size),
    total: catalog.length,
  }),
  services: async () => catalog,
  deployedEnvs: async () => envs,
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

  it('asks the orchestrator for the page of clusters alone, or the page of those needing attention', async () => {
    const get = await start();
    asked.length = 0;
    const second = await get('/clusters?page=2');
    expect(shownClusters(second)).toEqual(clusters.slice(100, 200).map((c) => `${c.service}-${c.env}`));
    expect(second).toMatch(/1200 clusters, 2 needing attention/);
    expect(second).toContain('href="/clusters?page=1"');
    expect(second).toContain('href="/clusters?page=3"');
    expect(asked).toEqual([{ offset: 100, limit: 100 }]);
    asked.length = 0;
    const needing = await get('/clusters?attention=1');
    expect(needing).toMatch(/1200 clusters, 2 needing attention: those needing attention/);
    expect(needing).not.toContain('class="pager"');
    expect(asked).toEqual([{ offset: 0, limit: 100, attention: true }]);
  });
});

const shownServices = (page: string) => [...page.matchAll(/data-service="([a-z0-9-]+)"/g)].map((m) => m[1]);

describe('/services at 300 services', () => {
  it('shows 100 a page, each with where it runs, reading the clusters of those 100 alone', async () => {
    const get = await start();
    asked.length = 0;
    const first = await get('/services');
    expect(shownServices(first)).toEqual(catalog.slice(0, 100).map((s) => s.name));
    expect(first).toContain('page 1 of 3');
    expect(first).toContain('href="/services?page=2"');
    expect(first).toMatch(/data-service="svc0007"[\s\S]*?data-where="prod-c"/);
    expect(first).toContain('team0');
    expect(asked).toEqual([{ service: catalog.slice(0, 100).map((s) => s.name) }]);
    const third = await get('/services?page=3');
    expect(shownServices(third)).toEqual(catalog.slice(200).map((s) => s.name));
    expect(third).not.toContain('rel="next"');
    // A page past the end is the last one; a page that is no number is the first.
    expect(shownServices(await get('/services?page=9'))).toEqual(shownServices(third));
    expect(shownServices(await get('/services?page=x'))).toEqual(shownServices(first));
  });
});

describe('/deployments at 1,200 clusters', () => {
  it('offers every environment deployed to without reading every cluster', async () => {
    const get = await start();
    const page = await get('/deployments');
    for (const env of envs) expect(page).toContain(`<option value="${env}"`);
  });
});
