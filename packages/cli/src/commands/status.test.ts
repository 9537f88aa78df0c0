import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SCREENFUL, status } from './status.js';

describe('slipway status of a catalog larger than a screen', () => {
  let server: Server;
  // 100 services × 4 clusters, all healthy and idle but three: one deploying, one with an
  // unhealthy instance, one whose last deployment rolled back.
  const clusters = Array.from({ length: 400 }, (_, n) => ({
    service: `svc${String(Math.floor(n / 4)).padStart(3, '0')}`,
    env: `prod-${'abcd'[n % 4]}`,
    active: { image: `img-${Math.floor(n / 4)}` },
    health: { healthy: n === 301 ? 1 : 2, instances: 2 },
    deploying: n === 250 ? 'dep-moving' : null,
  }));
  const deployments = [
    {
      id: 'dep-bad',
      service: 'svc099',
      env: 'prod-d',
      state: 'rolled-back',
      image: 'img-99',
      by: 'ana',
      createdAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      message: 'x',
    },
  ];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url!, 'http://x').pathname;
      const body =
        path === '/clusters' ? { items: clusters } : path === '/deployments' ? { items: deployments } : { items: [] };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
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
});
