import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createServiceApp } from './app.js';
import { createTokenVerifier } from './auth.js';
import { ConflictError } from './errors.js';
import { createLogger } from './logger.js';
import type { OpenApiDocument, OperationHandlers } from './openapi.js';

// What these operations answer: JSON, or a problem.
const responses = {
  '200': { description: 'ok', content: { 'application/json': {} } },
  default: { description: 'a problem', content: { 'application/problem+json': {} } },
};

const openapi: OpenApiDocument = {
  openapi: '3.0.3',
  info: { title: 'Test', version: '1' },
  'x-slipway-role': 'reader',
  security: [{ bearerAuth: [] }],
  components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
  paths: {
    '/things/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
      get: { operationId: 'getThing', responses },
      put: {
        operationId: 'putThing',
        'x-slipway-role': 'admin',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['size'],
                properties: { size: { type: 'integer' }, label: { type: 'string', maxLength: 3 } },
                additionalProperties: false,
              },
            },
          },
        },
        responses,
      },
    },
    '/boom': { get: { operationId: 'boom', responses } },
  },
};

function build(
  options: { readiness?: Record<string, () => Promise<unknown>>; unavailable?: () => string | undefined } = {},
) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const operations: OperationHandlers = {
    getThing(req, res) {
      if (String(req.params.id) === '9') throw new ConflictError('thing 9 is busy');
      res.json({ id: Number(req.params.id) });
    },
    async putThing(req, res) {
      res.json(req.body);
    },
    async boom() {
      throw new Error('database password is hunter2');
    },
  };
  const app = createServiceApp({
    name: 'test',
    openapi,
    tokens: createTokenVerifier({
      'reader-secret': { subject: 'r', role: 'reader' },
      'admin-secret': { subject: 'a', role: 'admin' },
    }),
    logger: createLogger({ name: 'test', level: 'info', destination }),
    operations,
    ...options,
  });
  return { app, lines };
}

const reader = { Authorization: 'Bearer reader-secret' };
const admin = { Authorization: 'Bearer admin-secret' };

describe('createServiceApp', () => {
  it('validates requests against the document before a handler runs, listing each error', async () => {
    const { app } = build();
    const res = await request(app).put('/things/1').set(admin).send({ label: 'toolong', extra: 1 });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(
      ['/body/extra', '/body/label', '/body/size'].sort(),
    );
    expect((await request(app).get('/things/0').set(reader)).status).toBe(400);
  });

  it('maps errors to problem+json with type, title, status, detail and instance', async () => {
    const { app } = build();
    const res = await request(app).get('/things/9').set(reader);
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      type: 'https://slipway.dev/problems/conflict',
      title: 'Conflict',
      status: 409,
      detail: 'thing 9 is busy',
      instance: '/things/9',
      requestId: res.headers['x-request-id'],
    });
  });

  it('hides what a 500 was about from the caller and logs it', async () => {
    const { app, lines } = build();
    const res = await request(app).get('/boom').set(reader);
    expect(res.status).toBe(500);
    expect(res.body.detail).not.toMatch(/hunter2/);
    expect(lines.some((line) => line.includes('"level":50'))).toBe(true);
  });

  it('logs one JSON object a line with the request id and never the token', async () => {
    const { app, lines } = build();
    await request(app).get('/things/1').set(reader).set('X-Request-Id', 'req-42');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const done = entries.find((entry) => entry.msg === 'request completed');
    expect(done).toMatchObject({ reqId: 'req-42', req: { method: 'GET', url: '/things/1' }, res: { statusCode: 200 } });
    expect(lines.join('\n')).not.toContain('reader-secret');
  });

  it('never logs a token put in the query string', async () => {
    const { app, lines } = build();
    await request(app).get('/things/1?access_token=admin-secret&x=1').set(reader);
    await request(app).get('/things/1?q=admin-secret').set(reader);
    await request(app).get('/things/1?slw_abcdefgh').set(reader);
    await request(app).get('/things/1?apikey=whatever&ref=main').set(reader);
    // Inside a longer value (a pasted command, a note): a token's words are found there too.
    await request(app).get('/things/1?q=curl%20-H%20slw_abcdefgh12&ref=main').set(reader);
    await request(app).get('/things/1?q=token:%20admin-secret,%20thanks').set(reader);
    // A pasted command naming the token as the CLI reads it (an environment variable, a flag), or piped.
    await request(app).get('/things/1?q=SLIPWAY_TOKEN%3Dadmin-secret%20slipway%20status').set(reader);
    await request(app).get('/things/1?q=slipway%20login%20--token=admin-secret').set(reader);
    await request(app).get('/things/1?q=echo%20admin-secret|slipway%20login').set(reader);
    const urls = lines
      .map((line) => JSON.parse(line) as { req?: { url: string } })
      .flatMap((entry) => (entry.req ? [entry.req.url] : []));
    expect(urls).toEqual([
      '/things/1?access_token=[redacted]&x=1',
      '/things/1?q=[redacted]',
      '/things/1?[redacted]',
      '/things/1?apikey=[redacted]&ref=main',
      '/things/1?q=[redacted]&ref=main',
      '/things/1?q=[redacted]',
      '/things/1?q=[redacted]',
      '/things/1?q=[redacted]',
      '/things/1?q=[redacted]',
    ]);
    expect(lines.join('\n')).not.toContain('admin-secret');
  });

  it("answers /readyz with ready or not and nothing more: a dependency's error text stays in the log (#24 attack 11)", async () => {
    const { app, lines } = build({
      readiness: {
        redis: async () => 'PONG',
        config: async () => Promise.reject(new Error('connect ECONNREFUSED 10.0.3.7:6379 (password auth failed)')),
      },
    });
    const res = await request(app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'not ready' });
    expect(lines.join('\n')).toContain('10.0.3.7');
    const ready = await request(build({ readiness: { redis: async () => 'PONG' } }).app).get('/readyz');
    expect([ready.status, ready.body]).toEqual([200, { status: 'ok' }]);
  });

  it('answers /metrics only to a bearer token: versions, commits and image ids are not for anyone (#24 attack 11)', async () => {
    const { app } = build();
    await request(app).get('/things/1').set(reader);
    const open = await request(app).get('/metrics');
    expect(open.status).toBe(401);
    expect(open.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(open.body.detail).toMatch(/metrics need a bearer token/);
    expect(open.text).not.toMatch(/http_request/);
    expect((await request(app).get('/metrics').set({ Authorization: 'Bearer not-a-token' })).status).toBe(401);
    const scraped = await request(app).get('/metrics').set(reader);
    expect(scraped.status).toBe(200);
    expect(scraped.text).toMatch(/http_request_duration_seconds_count/);
  });

  it('answers 503 with Retry-After while unavailable, but only once the caller is authenticated', async () => {
    const { app } = build({ unavailable: () => 'Redis is unreachable; try again shortly' });
    const res = await request(app).put('/things/1').set(admin).type('json').send('{not json');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.detail).toBe('Redis is unreachable; try again shortly');
    const none = await request(app).get('/things/1');
    expect([none.status, none.headers['retry-after'], none.body.detail]).toEqual([
      401,
      undefined,
      'a bearer token is required (Authorization: Bearer <token>)',
    ]);
    const wrong = await request(app).get('/things/1').set({ Authorization: 'Bearer not-a-token' });
    expect([wrong.status, wrong.headers['retry-after']]).toEqual([401, undefined]);
    expect((await request(app).put('/things/1').set(reader).send({ size: 1 })).status).toBe(403);
    expect((await request(app).get('/healthz')).status).toBe(200);
  });

  it('answers 413 for a body over the limit', async () => {
    const { app } = build();
    const res = await request(app)
      .put('/things/1')
      .set(admin)
      .send({ size: 1, label: 'x'.repeat(2 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.status).toBe(413);
  });
});

describe('the document as the router', () => {
  it('refuses to start when an operation has no handler, or a handler no operation', () => {
    const base = {
      tokens: createTokenVerifier({}),
      logger: createLogger({ name: 'test', level: 'silent' }),
      name: 'test',
      openapi,
    };
    const noop = () => undefined;
    expect(() => createServiceApp({ ...base, operations: { getThing: noop, putThing: noop } })).toThrow(
      /no handler for operation boom/,
    );
    expect(() =>
      createServiceApp({ ...base, operations: { getThing: noop, putThing: noop, boom: noop, extra: noop } }),
    ).toThrow(/does not have: extra/);
  });
});

describe('the request path without express’s router', () => {
  const streamDoc: OpenApiDocument = {
    ...openapi,
    paths: {
      '/things/{id}': openapi.paths['/things/{id}'],
      '/stream': { get: { operationId: 'stream', responses } },
    },
  };
  const app = createServiceApp({
    name: 'test',
    openapi: streamDoc,
    tokens: createTokenVerifier({ 'reader-secret': { subject: 'r', role: 'reader' } }),
    logger: createLogger({ name: 'test', level: 'silent' }),
    operations: {
      getThing: (req, res) => res.json({ id: req.params.id }),
      putThing: (_req, res) => res.json({}),
      // Fails once its answer has begun: nothing can be said any more but the connection's end.
      async stream(_req, res) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('[1,');
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error('the source went away');
      },
    },
  });

  it('answers 404 and 405 (with Allow) as problems, with the instance and the request id', async () => {
    const missing = await request(app).get('/nothing/here?x=1').set(reader);
    expect([missing.status, missing.body.instance, missing.body.requestId]).toEqual([
      404,
      '/nothing/here',
      missing.headers['x-request-id'],
    ]);
    const wrong = await request(app).delete('/things/1').set(reader);
    expect([wrong.status, wrong.headers.allow]).toEqual([405, 'GET, PUT']);
  });

  it('ends the connection when a handler fails after its answer began', async () => {
    await expect(request(app).get('/stream').set(reader)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('checks the parsed query: says where a NUL is, and a query both malformed and holding a NUL is refused for the NUL', async () => {
    const nul = await request(app).get('/things/1?a=ok&b=x%00y').set(reader);
    expect([nul.status, nul.body.errors]).toEqual([
      400,
      [{ path: '/query/b', message: 'string contains a NUL character (U+0000) at index 1' }],
    ]);
    const both = await request(app).get('/things/1?a=%zz&b=x%00y').set(reader);
    expect([both.status, both.body.errors?.[0]?.path]).toEqual([400, '/query/b']);
    const malformed = await request(app).get('/things/1?a=%zz').set(reader);
    expect([malformed.status, malformed.body.detail]).toEqual([400, 'malformed percent-encoding in the query: %zz']);
  });
});
