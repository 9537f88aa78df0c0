import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpSlipway, NotAvailableError } from './slipway.js';

/**
 * An orchestrator stand-in that answers as the real one does: its sync report, a revert, and
 * a 404 problem for an endpoint it does not have (the router's "no such resource").
 */
let orchestrator: Server;
let url: string;
const seen: { method: string; path: string; headers: IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  orchestrator = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const answer = (status: number, type: string, value: unknown) =>
        res.writeHead(status, { 'Content-Type': type }).end(JSON.stringify(value));
      if (req.method === 'GET' && req.url === '/sync') {
        answer(200, 'application/json', {
          inSync: false,
          items: [
            {
              service: 'search',
              set: 'prod',
              inSync: false,
              differs: ['image'],
              clusters: [{ env: 'prod', image: 'ami-1', version: '1.0.0', commit: null, deployment: null, odd: true }],
            },
          ],
        });
      } else if (req.method === 'POST' && req.url === '/services/search/envs/prod/revert-commit') {
        answer(202, 'application/json', { id: 'dep-1', state: 'queued', image: 'ami-0', version: '0.9.0' });
      } else {
        const detail = `no such resource: ${req.method} ${req.url}`;
        answer(404, 'application/problem+json', { type: 'about:blank', title: 'Not Found', status: 404, detail });
      }
    });
  });
  await new Promise<void>((resolve) => orchestrator.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(orchestrator.address() as AddressInfo).port}`;
});

afterAll(async () => {
  orchestrator.closeAllConnections();
  await new Promise((resolve) => orchestrator.close(resolve));
});

describe('httpSlipway', () => {
  const api = () =>
    httpSlipway({ orchestrator: url, baking: url }, 'chat-token')({ subject: 'alice', role: 'deployer' });

  it('reads the sync report and posts a revert through the typed client, as the person, with the token', async () => {
    const report = await api().sync();
    expect(report.inSync).toBe(false);
    expect(report.items[0]?.clusters[0]).toMatchObject({ env: 'prod', odd: true });
    await expect(api().revertCommit('search', 'prod', 'abc123', 'bad commit')).resolves.toMatchObject({ id: 'dep-1' });
    const revert = seen.find((s) => s.path.endsWith('/revert-commit'))!;
    expect(JSON.parse(revert.body)).toEqual({ commit: 'abc123', message: 'bad commit' });
    expect(revert.headers.authorization).toBe('Bearer chat-token');
    expect(revert.headers['x-slipway-act-as']).toBeDefined();
  });

  it('says an endpoint the orchestrator does not have yet is not available', async () => {
    await expect(api().release({ message: 'ship', items: [{ service: 'search', version: '1.0.0' }] })).rejects.toThrow(
      NotAvailableError,
    );
  });
});
