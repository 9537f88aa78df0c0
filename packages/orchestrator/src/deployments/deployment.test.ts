import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, UnprocessableError } from '@slipway/core';
import { resolveParams, type Deployment } from './deployment.js';
import { runWebCheck } from '../actions/health.js';
import { createNotifier } from '../notify.js';

const fromCommit = {
  capacity: { desired: 2, max: 4 },
  healthCheck: { path: '/healthcheck' },
  loadBalancer: { name: 'search-prod' },
  strategy: { name: 'red-black', burnInSeconds: 30 },
};

describe('resolveParams', () => {
  it('fills in the defaults and merges the request over the commit', () => {
    const params = resolveParams(fromCommit, { strategy: { burnInSeconds: 5 } }, 'progressive');
    expect(params.strategy).toEqual({
      name: 'progressive',
      burnInSeconds: 5,
      batchGrowth: 2,
      retainedGroups: 2,
      drainSeconds: 30,
      healthTimeoutSeconds: 300,
      rollbackOnFailure: true,
    });
    expect(params.capacity).toEqual({ min: 1, desired: 2, max: 4 });
    expect(params.healthCheck).toMatchObject({ port: 'traffic-port', healthyThreshold: 2, unhealthyThreshold: 2 });
  });

  it('refuses overrides outside the schema, naming the field', () => {
    expect(() => resolveParams(fromCommit, { strategy: { burnInSeconds: -1 } }, undefined)).toThrow(UnprocessableError);
    expect(() => resolveParams(fromCommit, { surprise: true }, undefined)).toThrow(/params\/surprise is not allowed/);
  });
});

describe('web checks', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // These checks answer on this machine: the operator allows private addresses here.
    process.env.SLIPWAY_ALLOW_PRIVATE_URLS = 'true';
    server = createServer((req, res) => {
      res.writeHead(req.url === '/down' ? 503 : 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: { errorRate: 0.2, state: 'ok' } }));
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    delete process.env.SLIPWAY_ALLOW_PRIVATE_URLS;
    server.close();
  });

  const check = (condition: string, path = '/', jsonPath = 'status.errorRate') => ({
    name: 'errors',
    type: 'web' as const,
    url: `${base}${path}`,
    jsonPath,
    condition,
    intervalSeconds: 1,
    failureLimit: 1,
  });

  it('holds when the value at the JSON path meets the condition, and says why when not', async () => {
    expect(await runWebCheck(check('< 0.5'))).toBeUndefined();
    expect(await runWebCheck(check('< 0.05'))).toBe('errors: 0.2 is not < 0.05');
    expect(await runWebCheck(check('== ok', '/', 'status.state'))).toBeUndefined();
    expect(await runWebCheck(check('< 1', '/down'))).toMatch(/answered 503/);
  });
});

describe('notifications', () => {
  it('never fail a deployment: a webhook that refuses is logged and the call returns', async () => {
    const warn = jest.fn();
    const logger = Object.assign(createLogger({ name: 'test', level: 'silent' }), { warn });
    const notifier = createNotifier({
      peers: { service: async () => ({ name: 'search', properties: { webhook: 'http://127.0.0.1:9/hook' } }) },
      logger,
      timeoutMs: 500,
    });
    const d = {
      id: 'dep-1',
      service: 'search',
      env: 'prod',
      image: 'img-1',
      by: 'dave',
      message: 'm',
      context: {},
    } as unknown as Deployment;
    await expect(notifier.notify(d, 'failure')).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalled();
  });
});
