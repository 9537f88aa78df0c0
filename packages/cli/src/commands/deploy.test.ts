import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { showConfig } from './config.js';
import { deploy } from './deploy.js';
import { history, status } from './status.js';

/** Every service at one stand-in that answers as the platform would and counts what it is asked. */
const asked: string[] = [];
let lastBody = '';
let server: Server;

const PREVIEW = {
  clusters: [
    {
      service: 'search',
      env: 'prod',
      from: { image: 'img-search-0', version: '1.3.0', commit: 'a'.repeat(40), instances: 2 },
      to: { image: 'img-search-1', version: '1.4.0', commit: 'b'.repeat(40), instances: 2 },
      policy: { requireConfirmation: false },
    },
  ],
  warnings: [],
  confirmationRequired: false,
  confirmation: 'c0ffee',
};

function answer(method: string, path: string): [number, unknown] {
  if (path.startsWith('/services?')) return [200, { items: [{ name: 'search' }] }];
  if (path === '/services/search')
    return [200, { name: 'search', metadata: { clusters: { live: ['prod-a', 'prod-b'] } } }];
  if (path === '/services/search/names/liv')
    return [200, { service: 'search', name: 'liv', kind: 'cluster', clusters: ['liv'] }];
  if (path === '/services/search/names/prod')
    return [200, { service: 'search', name: 'prod', kind: 'cluster', clusters: ['prod'] }];
  if (path === '/config/search') return [200, { service: 'search', environments: ['prod', 'staging'] }];
  if (path.startsWith('/images?'))
    return [
      200,
      {
        items: [
          { id: 'img-search-1', service: 'search', version: '1.4.0', createdAt: '2026-12-01T00:00:00Z' },
          { id: 'img-search-0', service: 'search', version: '1.3.0', createdAt: '2026-11-01T00:00:00Z' },
        ],
      },
    ];
  if (path.startsWith('/services/nosuch/') || path.startsWith('/services/prod/'))
    return [
      422,
      { type: 'about:blank', title: 'Unprocessable', status: 422, detail: 'service nosuch is not registered' },
    ];
  if (method === 'POST' && path === '/deployments/preview')
    return lastBody.includes('"liv"')
      ? [
          422,
          {
            type: 'about:blank',
            title: 'Unprocessable',
            status: 422,
            detail: 'no configuration repository search-liv',
          },
        ]
      : lastBody.includes('img-none')
        ? [422, { type: 'about:blank', title: 'Unprocessable', status: 422, detail: 'no image img-none' }]
        : [200, PREVIEW];
  if (method === 'POST' && path === '/deployments') return [202, { id: 'dep-abc123', state: 'queued' }];
  return [404, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route ${method} ${path}` }];
}

beforeAll(async () => {
  server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    let received = '';
    req.on('data', (chunk: Buffer) => (received += chunk.toString()));
    req.on('end', () => {
      lastBody = received;
      const [status, body] = answer(req.method!, req.url!);
      res.writeHead(status, { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const service of ['METADATA', 'CONFIG', 'BAKING', 'INFRA', 'ORCHESTRATOR'])
    process.env[`SLIPWAY_${service}_URL`] = url;
  process.env.SLIPWAY_TOKEN = 'test-token';
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => void asked.splice(0));

describe('slipway deploy', () => {
  it('asks at most three things before it deploys: what the name is, the images (for a version), the preview', async () => {
    await deploy('search', 'prod', '1.4.0', { message: 'why', wait: false, json: true });
    const post = asked.indexOf('POST /deployments');
    expect(post).toBeGreaterThan(-1);
    expect(asked.slice(0, post)).toEqual([
      'GET /services/search/names/prod',
      'GET /images?service=search&kind=service',
      'POST /deployments/preview',
    ]);
  });

  it('asks nothing about images when given an image id: the preview says its version', async () => {
    await deploy('search', 'prod', 'img-search-1', { message: 'why', wait: false, json: true });
    expect(asked.slice(0, asked.indexOf('POST /deployments'))).toEqual([
      'GET /services/search/names/prod',
      'POST /deployments/preview',
    ]);
  });

  it('says a refusal as it always did, asking the names only then', async () => {
    await expect(deploy('nosuch', 'prod', '1.4.0', { message: 'why', wait: false, json: true })).rejects.toThrow(
      'there is no service nosuch (slipway services list)',
    );
    await expect(deploy('search', 'prod', 'img-none', { message: 'why', wait: false, json: true })).rejects.toThrow(
      'search has no image img-none (slipway images search)',
    );
    expect(asked).not.toContain('POST /deployments');
  });

  it('says the service comes first when given an environment of a registered service first, a usage error', async () => {
    const swapped = deploy('prod', 'search', '1.4.0', { message: 'why', wait: false, json: true });
    await expect(swapped).rejects.toThrow(
      'prod is an environment of search: the service comes first (slipway deploy search prod …)',
    );
    await expect(swapped).rejects.toMatchObject({ usage: true });
    expect(asked).not.toContain('POST /deployments');
  });

  it('names the nearest environment or sync set for a typo of a sync set', async () => {
    await expect(deploy('search', 'liv', '1.4.0', { message: 'why', wait: false, json: true })).rejects.toThrow(
      'search has no environment or sync set liv; did you mean live? (it has prod, staging; sync set live)',
    );
  });
});

describe('slipway deploy --burn-in', () => {
  it('takes seconds as --after takes a duration (30, 30s, 2m), and refuses anything else in its own words, asking nothing', async () => {
    await deploy('search', 'prod', '1.4.0', { message: 'why', wait: false, json: true, burnIn: '2m' });
    expect(JSON.parse(lastBody).params).toEqual({ strategy: { burnInSeconds: 120 } });
    asked.splice(0);
    const refused = deploy('search', 'prod', '1.4.0', { message: 'why', wait: false, json: true, burnIn: 'abc' });
    await expect(refused).rejects.toThrow('--burn-in abc: a duration such as 90s, 15m, 1h or 2d');
    await expect(refused).rejects.toMatchObject({ usage: true });
    expect(asked).toEqual([]);
  });
});

describe('slipway status, history and config show with the environment first (a newcomer typing prod search)', () => {
  it('says the service comes first, a usage error, as deploy says it', async () => {
    for (const [verb, run] of [
      ['status', () => status('prod', 'search')],
      ['history', () => history('prod', 'search')],
      ['config show', () => showConfig('prod', 'search')],
    ] as const) {
      const swapped = run();
      await expect(swapped).rejects.toThrow(
        `prod is an environment of search: the service comes first (slipway ${verb} search prod)`,
      );
      await expect(swapped).rejects.toMatchObject({ usage: true });
    }
  });
});
