import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getJson } from './get-json.js';

describe('getJson: a GET over node:http, answered in the same words as the typed clients', () => {
  let server: Server;
  let broken = 0;
  const seen: { url: string; authorization?: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url!, authorization: req.headers.authorization });
      if (req.url!.startsWith('/breaks-once') && broken++ === 0) return req.socket.destroy();
      if (req.url!.startsWith('/missing')) {
        res.writeHead(404, { 'Content-Type': 'application/problem+json' });
        return res.end(JSON.stringify({ status: 404, title: 'Not Found', detail: 'no such cluster search prod' }));
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ items: [1, 2] }));
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    process.env.SLIPWAY_ORCHESTRATOR_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_TOKEN = 'test-token';
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('sends the token and the query, leaving out what is undefined, and parses the answer', async () => {
    expect(await getJson('orchestrator', '/clusters', { order: 'attention', limit: 40, service: undefined })).toEqual({
      items: [1, 2],
    });
    expect(seen.at(-1)).toEqual({ url: '/clusters?order=attention&limit=40', authorization: 'Bearer test-token' });
  });

  it("says a service's refusal as its detail, and asks again a read whose connection broke", async () => {
    await expect(getJson('orchestrator', '/missing')).rejects.toThrow('no such cluster search prod');
    expect(await getJson('orchestrator', '/breaks-once')).toEqual({ items: [1, 2] });
    expect(broken).toBe(2);
  });

  it('names the URL and the variable it tried when nothing answers', async () => {
    await expect(
      (async () => {
        process.env.SLIPWAY_ORCHESTRATOR_URL = 'http://127.0.0.1:1';
        return getJson('orchestrator', '/clusters');
      })(),
    ).rejects.toThrow(
      'cannot reach the orchestrator service at http://127.0.0.1:1 (SLIPWAY_ORCHESTRATOR_URL): ECONNREFUSED',
    );
  });

  it('says there is no token, not that the platform is down, when no token is set anywhere', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.SLIPWAY_TOKEN;
      process.env.SLIPWAY_HOME = '/nonexistent-slipway-home';
      process.env.XDG_CONFIG_HOME = '/nonexistent-config';
      await expect(getJson('orchestrator', '/clusters')).rejects.toThrow(
        'no token: set SLIPWAY_TOKEN, run `slipway login`, or start the platform here (npm start)',
      );
    } finally {
      process.env = saved;
    }
  });
});
