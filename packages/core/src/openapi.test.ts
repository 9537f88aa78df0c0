import { describe, expect, it } from '@jest/globals';
import express, { type Request, type Response } from 'express';
import request from 'supertest';
import { createTokenVerifier } from './auth.js';
import { InputError } from './errors.js';
import { openApiMiddleware, paramsOf, parseQuery, principalOf, queryOf, type OpenApiDocument } from './openapi.js';
import { problemMiddleware } from './problem.js';
import { createLogger } from './logger.js';

const tokens = createTokenVerifier({
  'reader-secret': { subject: 'r', role: 'reader' },
  'deployer-secret': { subject: 'd', role: 'deployer' },
});
const reader = { Authorization: 'Bearer reader-secret' };
const deployer = { Authorization: 'Bearer deployer-secret' };
const echo = (req: Request, res: Response) =>
  res.json({ params: paramsOf(req), query: queryOf(req), body: req.body as unknown });

function doc(paths: Record<string, unknown>, extra: Record<string, unknown> = {}): OpenApiDocument {
  return {
    openapi: '3.0.3',
    info: { title: 'Test', version: '1' },
    'x-slipway-role': 'reader',
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer' },
        hook: { type: 'apiKey', in: 'header', name: 'X-Hook' },
        other: { type: 'apiKey', in: 'header', name: 'X-Other' },
      },
    },
    paths,
    ...extra,
  };
}
const inPath = (...names: string[]) =>
  names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
const op = (operationId: string, more: Record<string, unknown> = {}) => ({
  operationId,
  responses: { '200': { description: 'ok' } },
  ...more,
});

function app(document: OpenApiDocument, handlers: Record<string, typeof echo>, apiKeys = {}) {
  const server = express();
  const bodyParser = express.json({ strict: false });
  server.use(openApiMiddleware(document, tokens, handlers, { apiKeys, bodyParser }));
  server.use(problemMiddleware(createLogger({ name: 'test', level: 'silent' })));
  return server;
}

describe('parseQuery', () => {
  it('decodes, repeats into arrays, and treats __proto__ as a plain key', () => {
    const query = parseQuery('a=1&b=x%20y+z&a=2&flag&__proto__=p&empty=');
    expect({ ...query }).toEqual({ a: ['1', '2'], b: 'x y z', flag: '', ['__proto__']: 'p', empty: '' });
    expect(Object.getPrototypeOf(query)).toBeNull();
  });
  it('refuses malformed percent-encoding', () => {
    expect(() => parseQuery('a=%E0%A4%A')).toThrow(InputError);
  });
  it('refuses a query of more than 1,000 parameters before any handler, saying so (one key repeated 5,000 times)', async () => {
    const seen: unknown[] = [];
    const server = app(
      doc({
        '/list': {
          get: op('list', {
            parameters: [{ name: 'a', in: 'query', schema: { type: 'array', items: { type: 'string' } } }],
          }),
        },
      }),
      { list: (req, res) => res.json(seen.push(queryOf(req))) },
    );
    const many = await request(server)
      .get(`/list?${Array(5000).fill('a').join('&')}`)
      .set(reader);
    expect(many.status).toBe(400);
    expect(many.body.detail).toBe(
      'the query has 5000 parameters; at most 1000 are read (a key repeated counts each time)',
    );
    expect(seen).toEqual([]);
    const enough = await request(server)
      .get(`/list?${Array(1000).fill('a=1').join('&')}`)
      .set(reader);
    expect(enough.status).toBe(200);
    expect((seen[0] as { a: string[] }).a).toHaveLength(1000);
  });
});

describe('route precedence', () => {
  const named = (name: string) => (_req: Request, res: Response) => res.json({ name });
  const server = app(
    doc({
      '/a/{x}/latest': { parameters: inPath('x'), get: op('paramFirst') },
      '/a/static/{y}': { parameters: inPath('y'), get: op('literalFirst') },
      '/a/{x}': { parameters: inPath('x'), get: op('one') },
      '/a/static': { get: op('literal') },
      '/f/{path}': {
        parameters: [{ name: 'path', in: 'path', required: true, 'x-slashes': true, schema: { type: 'string' } }],
        get: op('spanning'),
      },
      '/f/{name}/meta': { parameters: inPath('name'), get: op('meta') },
    }),
    {
      paramFirst: named('paramFirst'),
      literalFirst: named('literalFirst'),
      one: named('one'),
      literal: named('literal'),
      spanning: named('spanning'),
      meta: named('meta'),
    },
  );
  it.each([
    ['/a/static/latest', 'literalFirst'],
    ['/a/other/latest', 'paramFirst'],
    ['/a/static/other', 'literalFirst'],
    ['/a/static', 'literal'],
    ['/a/other', 'one'],
    ['/f/x/meta', 'meta'],
    ['/f/x/y/meta', 'spanning'],
    ['/f/x/y', 'spanning'],
  ])('%s goes to %s: a literal segment beats a parameter, which beats one spanning segments', async (path, name) => {
    const res = await request(server).get(path).set(reader);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name });
  });
  it('answers 404 for no route and 405 with Allow for another method', async () => {
    const none = await request(server).get('/nope').set(reader);
    expect([none.status, none.body.code]).toEqual([404, 'no-route']);
    const res = await request(server).delete('/a/x').set(reader);
    expect([res.status, res.body.code]).toEqual([405, 'method-not-allowed']);
    expect(res.headers.allow).toBe('GET');
  });
});

describe('security', () => {
  const hook = (value: string) =>
    value === 'hook-secret' ? { subject: 'hook', role: 'deployer' as const } : undefined;
  const other = (value: string) =>
    value === 'other-secret' ? { subject: 'other', role: 'reader' as const } : undefined;
  const who = (req: Request, res: Response) => res.json(principalOf(req));
  const open = (_req: Request, res: Response) => res.json({ open: true });
  const server = app(
    doc({
      '/read': { get: op('read') },
      '/write': { post: op('write', { 'x-slipway-role': 'deployer' }) },
      '/hook-only': { post: op('hookOnly', { security: [{ hook: [] }] }) },
      '/either': { post: op('either', { 'x-slipway-role': 'deployer', security: [{ bearerAuth: [] }, { hook: [] }] }) },
      '/both': { post: op('both', { security: [{ hook: [], other: [] }] }) },
      '/open': { get: op('open', { security: [] }) },
    }),
    { read: who, write: who, hookOnly: who, either: who, both: who, open },
    { hook, other },
  );

  it('answers 401 without a token, 401 with a wrong one, 403 with too small a role', async () => {
    expect((await request(server).get('/read')).status).toBe(401);
    expect((await request(server).get('/read').set({ Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await request(server).get('/read').set(reader)).body).toEqual({ subject: 'r', role: 'reader' });
    const res = await request(server).post('/write').set(reader);
    expect(res.status).toBe(403);
    expect(res.body.detail).toMatch(/needs the deployer role/);
    expect((await request(server).post('/write').set(deployer)).status).toBe(200);
  });
  it('fails closed on an operation secured only by an API key: leaving the header out is a 401', async () => {
    const res = await request(server).post('/hook-only');
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/X-Hook header is required/);
    expect((await request(server).post('/hook-only').set(deployer)).status).toBe(401);
    expect((await request(server).post('/hook-only').set('X-Hook', 'wrong')).status).toBe(401);
    expect((await request(server).post('/hook-only').set('X-Hook', 'hook-secret')).body.subject).toBe('hook');
  });
  it('lets either alternative in, and says the most useful refusal', async () => {
    expect((await request(server).post('/either').set(deployer)).body.subject).toBe('d');
    expect((await request(server).post('/either').set('X-Hook', 'hook-secret')).body.subject).toBe('hook');
    const none = await request(server).post('/either');
    expect(none.status).toBe(401);
    expect(none.body.detail).toMatch(/bearer token .* or the X-Hook header/);
    const weak = await request(server).post('/either').set(reader);
    expect(weak.status).toBe(403);
    expect((await request(server).post('/either').set('X-Hook', 'wrong')).body.detail).toMatch(
      /X-Hook header is not valid/,
    );
  });
  it('needs every scheme of one requirement', async () => {
    expect((await request(server).post('/both').set('X-Hook', 'hook-secret')).status).toBe(401);
    const res = await request(server).post('/both').set({ 'X-Hook': 'hook-secret', 'X-Other': 'other-secret' });
    expect(res.status).toBe(200);
  });
  it('leaves an operation open only when it says security: []', async () => {
    expect((await request(server).get('/open')).body).toEqual({ open: true });
  });
  it('authenticates before reading the body: bad JSON without a token is a 401', async () => {
    const res = await request(server).post('/write').set('Content-Type', 'application/json').send('{not json');
    expect(res.status).toBe(401);
  });

  const handlers = { x: open };
  it.each([
    ['no security at all', doc({ '/x': { get: op('x') } }, { security: undefined })],
    ['a scheme the document does not declare', doc({ '/x': { get: op('x', { security: [{ missing: [] }] }) } })],
    ['an apiKey scheme without a check', doc({ '/x': { get: op('x', { security: [{ hook: [] }] }) } })],
    ['roles written as bearer scopes', doc({ '/x': { get: op('x', { security: [{ bearerAuth: ['admin'] }] }) } })],
    ['a bearer scheme without a role', doc({ '/x': { get: op('x') } }, { 'x-slipway-role': undefined })],
    ['a role that does not exist', doc({ '/x': { get: op('x', { 'x-slipway-role': 'root' }) } })],
    [
      'a kind of scheme it cannot check',
      doc(
        { '/x': { get: op('x', { security: [{ basic: [] }] }) } },
        {
          components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' } } },
        },
      ),
    ],
  ])('refuses to start with %s', (_name, document) => {
    expect(() => openApiMiddleware(document, tokens, handlers)).toThrow();
  });
});

describe('parameters', () => {
  const server = app(
    doc({
      '/items/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
        get: op('item', {
          parameters: [
            { name: 'tag', in: 'query', schema: { type: 'array', items: { type: 'string' } } },
            { name: 'limit', in: 'query', schema: { type: 'integer', default: 10 } },
            { name: 'flag', in: 'query', schema: { type: 'boolean' } },
            { name: 'X-Trace', in: 'header', required: true, schema: { type: 'string', pattern: '^t' } },
          ],
        }),
      },
    }),
    { item: echo },
  );
  const trace = { ...reader, 'X-Trace': 't1' };

  it('decodes path parameters, coerces query values to their types and fills defaults', async () => {
    const res = await request(server).get('/items/7?tag=a&tag=b%20c&flag=true').set(trace);
    expect(res.status).toBe(200);
    expect(res.body.query).toEqual({ tag: ['a', 'b c'], limit: 10, flag: true });
  });
  it('reads one value of an array parameter as a list of one', async () => {
    expect((await request(server).get('/items/7?tag=a').set(trace)).body.query.tag).toEqual(['a']);
  });
  it('answers 400 naming each wrong parameter, header included', async () => {
    const res = await request(server)
      .get('/items/0?limit=x&other=1')
      .set({ ...reader, 'X-Trace': 'bad' });
    expect(res.status).toBe(400);
    const paths = res.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/path/id', '/query/limit', '/query/other', '/header/x-trace']));
  });
  it('answers 400 for malformed percent-encoding in the path', async () => {
    expect((await request(server).get('/items/%E0%A4%A').set(trace)).status).toBe(400);
  });
  it.each([
    ['a cookie parameter', { name: 'c', in: 'cookie', schema: { type: 'string' } }],
    ['a deepObject query', { name: 'q', in: 'query', style: 'deepObject', schema: { type: 'object' } }],
    ['an unexploded query', { name: 'q', in: 'query', explode: false, schema: { type: 'array' } }],
    [
      'a matrix path parameter',
      { name: 'id', in: 'path', required: true, style: 'matrix', schema: { type: 'string' } },
    ],
    ['a parameter with content', { name: 'q', in: 'query', content: { 'application/json': {} } }],
  ])('refuses to start with %s, which it would read wrongly', (_name, parameter) => {
    const document = doc({ '/x/{id}': { parameters: inPath('id'), get: op('x', { parameters: [parameter] }) } });
    expect(() => openApiMiddleware(document, tokens, { x: echo })).toThrow(/parameter/);
  });
});

describe('request bodies', () => {
  const schema = {
    type: 'object',
    required: ['service'],
    additionalProperties: false,
    properties: { service: { type: 'string' }, count: { type: 'integer', default: 1 } },
  };
  const server = app(
    doc({
      '/json': {
        post: op('json', { requestBody: { required: true, content: { 'application/json': { schema } } } }),
      },
      '/either': {
        put: op('either', {
          requestBody: {
            required: false,
            content: { 'application/json': { schema }, 'application/octet-stream': {} },
          },
        }),
      },
    }),
    { json: echo, either: (_req, res) => res.json({ ok: true }) },
  );

  it('validates JSON without coercing: a number is not a string', async () => {
    const res = await request(server).post('/json').set(reader).send({ service: 123 });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: '/body/service', message: 'must be string' }]);
    expect((await request(server).post('/json').set(reader).send({ service: 'a', count: '2' })).status).toBe(400);
  });
  it('fills defaults of a valid body', async () => {
    expect((await request(server).post('/json').set(reader).send({ service: 'a' })).body.body).toEqual({
      service: 'a',
      count: 1,
    });
  });
  it('answers 400 for a missing required body and for bad JSON', async () => {
    expect((await request(server).post('/json').set(reader)).status).toBe(400);
    const bad = await request(server).post('/json').set(reader).set('Content-Type', 'application/json').send('{x');
    expect(bad.status).toBe(400);
  });
  it('answers 415 for a media type the operation does not take, naming those it does', async () => {
    const res = await request(server).post('/json').set(reader).set('Content-Type', 'text/plain').send('x');
    expect(res.status).toBe(415);
    expect(res.body.detail).toMatch(/application\/json/);
  });
  it('takes each declared media type, and no body when it is optional', async () => {
    expect((await request(server).put('/either').set(reader)).status).toBe(200);
    const raw = request(server).put('/either').set(reader).set('Content-Type', 'application/octet-stream');
    expect((await raw.send(Buffer.from([1, 2]))).status).toBe(200);
    expect((await request(server).put('/either').set(reader).send({ service: 'a' })).status).toBe(200);
  });
});
