import { describe, expect, it } from '@jest/globals';
import { compileResponseCheck } from './openapi-responses.js';
import type { OpenApiDocument } from './openapi.js';

const document: OpenApiDocument = {
  openapi: '3.0.3',
  info: { title: 'Test', version: '1' },
  paths: {
    '/things/{id}': {
      get: {
        operationId: 'getThing',
        responses: {
          '200': {
            description: 'ok',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
          },
          '4XX': { description: 'a problem', content: { 'application/problem+json': {} } },
        },
      },
      delete: { operationId: 'deleteThing', responses: { '204': { description: 'gone' } } },
    },
  },
  components: {
    schemas: {
      Thing: {
        type: 'object',
        required: ['id', 'size'],
        properties: { id: { type: 'string' }, size: { type: 'number', minimum: 0, exclusiveMinimum: true } },
      },
    },
  },
};
const check = compileResponseCheck(document);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('compileResponseCheck', () => {
  it('passes an answer its document allows', () => {
    expect(check('getThing', 200, 'application/json; charset=utf-8', json({ id: 'a', size: 1 }))).toBeUndefined();
    expect(check('getThing', 404, 'application/problem+json', json({ status: 404 }))).toBeUndefined();
    expect(check('deleteThing', 204, '', Buffer.alloc(0))).toBeUndefined();
  });
  it('names a body that breaks the schema, with 3.0 exclusive bounds read as 3.0 means them', () => {
    expect(check('getThing', 200, 'application/json', json({ id: 1, size: 0 }))).toMatch(
      /\/body\/id: must be string; \/body\/size: must be > 0/,
    );
  });
  it('names a status, a media type or a body the document does not declare', () => {
    expect(check('getThing', 500, 'application/problem+json', json({}))).toMatch(/status 500 is not declared/);
    expect(check('getThing', 200, 'application/octet-stream', Buffer.from('x'))).toMatch(
      /application\/octet-stream where the document says application\/json/,
    );
    expect(check('deleteThing', 204, 'application/json', Buffer.alloc(0))).toBeUndefined();
    expect(check('getThing', 200, 'application/json', Buffer.from('{'))).toMatch(/not JSON/);
    expect(check('nothing', 200, 'application/json', json({}))).toMatch(/no operation nothing/);
  });
});
