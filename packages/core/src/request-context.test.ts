import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createServiceApp } from './app.js';
import { createTokenVerifier } from './auth.js';
import { createServiceClient, unwrap } from './client.js';
import { createLogger } from './logger.js';
import type { OpenApiDocument } from './openapi.js';

// A service that calls a peer while serving a request: the peer sees the same request id.
let peer: Server;
let seen: IncomingHttpHeaders[];
let peerUrl: string;

beforeAll(async () => {
  seen = [];
  peer = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => peer.once('listening', resolve));
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
});

afterAll(() => {
  peer.close();
});

// What these operations answer: JSON, or a problem.
const responses = {
  '200': { description: 'ok', content: { 'application/json': {} } },
  default: { description: 'a problem', content: { 'application/problem+json': {} } },
};

const openapi: OpenApiDocument = {
  openapi: '3.0.3',
  info: { title: 'Caller', version: '1' },
  'x-slipway-role': 'reader',
  security: [{ bearerAuth: [] }],
  components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
  paths: { '/relay': { post: { operationId: 'relay', responses } } },
};

function app() {
  const client = createServiceClient<{
    '/anything': { get: { responses: { 200: { content: { 'application/json': object } } } } };
  }>({
    baseUrl: peerUrl,
    token: 'service-token',
  });
  return createServiceApp({
    name: 'caller',
    openapi,
    forwardRequestIds: true,
    tokens: createTokenVerifier({ t: { subject: 'tess', role: 'reader' } }),
    logger: createLogger({ name: 'caller', level: 'silent' }),
    operations: {
      async relay(_req, res) {
        await new Promise((resolve) => setTimeout(resolve, 5)); // across an await
        res.json(unwrap(await client.GET('/anything')));
      },
    },
  });
}

describe('request ids across services', () => {
  it('passes the incoming X-Request-Id on to the peers a request calls', async () => {
    const res = await request(app()).post('/relay').set('Authorization', 'Bearer t').set('X-Request-Id', 'req-42');
    expect(res.status).toBe(200);
    expect(seen.at(-1)?.['x-request-id']).toBe('req-42');
    expect(seen.at(-1)?.authorization).toBe('Bearer service-token');
  });

  it('passes on the id it made when none came in', async () => {
    const res = await request(app()).post('/relay').set('Authorization', 'Bearer t');
    expect(seen.at(-1)?.['x-request-id']).toBe(res.headers['x-request-id']);
  });
});
