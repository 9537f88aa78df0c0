import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeHttp } from './http-probe.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    res.writeHead(req.url === '/ok' ? 204 : 500).end();
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('probeHttp', () => {
  it('is healthy on a 2xx, and says why not otherwise', async () => {
    expect(await probeHttp(`${base}/ok`, 1000)).toBeUndefined();
    expect(await probeHttp(`${base}/sick`, 1000)).toBe('answered 500');
    expect(await probeHttp(`${base}/slow`, 200)).toBe('no answer within 200 ms');
    expect(await probeHttp('http://127.0.0.1:9/', 1000)).toMatch(/ECONNREFUSED/);
  });
});
