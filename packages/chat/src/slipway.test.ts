import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { failure } from './commands.js';
import { httpSlipway, NotAvailableError } from './slipway.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * An orchestrator's HTTP face, answering as its document says: GET /sync and POST /releases as
 * a current one does, revert-commit with the router's 404 of one older than chat.
 */
const seen: Seen[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const answer = (status: number, value: unknown, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type });
        res.end(JSON.stringify(value));
      };
      if (req.url === '/sync') return answer(200, { inSync: false, items: [] });
      if (req.url === '/releases') return answer(202, { id: 'rel-0123abcd', state: 'waiting' });
      answer(
        404,
        { type: 'about:blank', title: 'Not Found', status: 404, detail: `no such resource: ${req.method} ${req.url}` },
        'application/problem+json',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('httpSlipway', () => {
  const api = () =>
    httpSlipway({ orchestrator: base, baking: base }, 'chat-token')({ subject: 'alice', role: 'deployer' });

  it('asks for sync and releases with the typed client, as the person, and returns their answers', async () => {
    seen.length = 0;
    expect(await api().sync()).toEqual({ inSync: false, items: [] });
    const request = { message: 'ship it', env: 'prod', items: [{ service: 'search', from: 'staging' }] };
    expect(await api().release(request)).toEqual({ id: 'rel-0123abcd', state: 'waiting' });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /sync', 'POST /releases']);
    expect(JSON.parse(seen[1]!.body)).toEqual(request);
    for (const s of seen) {
      expect(s.headers.authorization).toBe('Bearer chat-token');
      expect(s.headers['x-slipway-act-as']).toMatch(/alice/);
    }
  });

  it('says an endpoint an older orchestrator lacks is not available yet', async () => {
    const error = await api()
      .revertCommit('search', 'prod', '0123abcd', 'revert it')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotAvailableError);
    expect(failure(error)).toBe(
      ':construction: not available yet: POST /services/search/envs/prod/revert-commit is not available yet in this orchestrator',
    );
  });
});
