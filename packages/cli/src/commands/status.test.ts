import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SCREENFUL, status } from './status.js';

describe('slipway status of a catalog larger than a screen', () => {
  let server: Server;
  // 100 services × 4 clusters, all healthy and idle but three: one deploying, one with an
  // unhealthy instance, one whose last deployment rolled back. The stand-in answers as the
  // orchestrator does: those needing attention first when asked, no more than the limit, the totals.
  const at = new Date().toISOString();
  const few = (n: number) => n === 250 || n === 301 || n === 399;
  const catalog = (needs: (n: number) => boolean) =>
    Array.from({ length: 400 }, (_, n) => ({
      service: `svc${String(Math.floor(n / 4)).padStart(3, '0')}`,
      env: `prod-${'abcd'[n % 4]}`,
      active: { image: `img-${Math.floor(n / 4)}`, version: `1.${Math.floor(n / 4)}` },
      retained: [],
      health: { healthy: n === 301 ? 1 : 2, instances: 2 },
      ...(n === 250 ? { deploying: 'dep-moving' } : {}),
      lastDeployment: {
        id: `dep-${n}`,
        state: n === 399 ? 'rolled-back' : 'succeeded',
        by: 'ana',
        createdAt: at,
        finishedAt: at,
      },
      needsAttention: needs(n),
    }));
  let clusters = catalog(few);
  const asked: { path: string; bytes: number }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      let body: unknown = { items: [] };
      if (url.pathname === '/clusters') {
        const ordered =
          url.searchParams.get('order') === 'attention'
            ? [...clusters.filter((c) => c.needsAttention), ...clusters.filter((c) => !c.needsAttention)]
            : clusters;
        const limit = url.searchParams.get('limit');
        body = {
          items: limit ? ordered.slice(0, Number(limit)) : ordered,
          total: clusters.length,
          needingAttention: clusters.filter((c) => c.needsAttention).length,
        };
      }
      const text = JSON.stringify(body);
      asked.push({ path: req.url!, bytes: text.length });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(text);
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_ORCHESTRATOR_URL = url;
    process.env.SLIPWAY_BAKING_URL = url;
    process.env.SLIPWAY_TOKEN = 'test-token';
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  async function printed(options: { all?: boolean; json?: boolean }): Promise<string[]> {
    const out: string[] = [];
    asked.length = 0;
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await status(undefined, undefined, options);
    } finally {
      write.mockRestore();
    }
    return out.join('').split('\n').filter(Boolean);
  }

  it('shows a screenful, those needing attention first, and says how many more and how to see them', async () => {
    const lines = await printed({});
    expect(lines).toHaveLength(1 + SCREENFUL + 1);
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'svc062 prod-c',
      'svc075 prod-b',
      'svc099 prod-d',
    ]);
    expect(lines[1]).toContain('deploying dep-moving');
    expect(lines[1]).toContain('1.62 ');
    expect(lines[2]).toContain('1/2');
    expect(lines[3]).toContain('rolled back');
    expect(lines.at(-1)).toBe(
      '360 more of 400 clusters (3 needing attention, shown first): slipway status --all, or slipway status SERVICE',
    );
  });

  it('shows every cluster with --all, and every one with --json (for scripts)', async () => {
    expect(await printed({ all: true })).toHaveLength(1 + 400);
    const json = JSON.parse((await printed({ json: true })).join('\n')) as { items: unknown[] };
    expect(json.items).toHaveLength(400);
  });

  it('asks one small question for a screenful: no whole list of clusters, images or deployments', async () => {
    await printed({});
    expect(asked.map((a) => a.path)).toEqual([`/clusters?order=attention&limit=${SCREENFUL}`]);
    // A screenful's rows, not the catalog's: well under the 400 clusters' worth.
    expect(asked[0]!.bytes).toBeLessThan(JSON.stringify(clusters).length / 5);
  });

  it('says how many needing attention are not shown when they are more than a screenful', async () => {
    clusters = catalog((n) => n % 8 === 0); // 50
    try {
      expect((await printed({})).at(-1)).toBe(
        '360 more of 400 clusters (50 needing attention, 40 of them shown): slipway status --all, or slipway status SERVICE',
      );
    } finally {
      clusters = catalog(few);
    }
  });
});
