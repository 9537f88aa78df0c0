import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError } from '../errors.js';
import { cancelBake } from './bake.js';
import { promote, release } from './release.js';
import { add, parseAssignment, set } from './services.js';

describe("services set key=value (a new user's typos)", () => {
  it('refuses what looks like JSON and is not, naming the key: a typo never becomes text that turns production off', () => {
    for (const typo of ['production=["prod"', 'clusters={"live":["prod-a"]', 'production=[prod]', 'note="unclosed'])
      expect(() => parseAssignment(typo)).toThrow(CliError);
    expect(() => parseAssignment('production=["prod"')).toThrow(/production=\["prod" is not valid JSON/);
  });

  it('keeps JSON as JSON, plain words as text, and a version-like number as typed', () => {
    expect(parseAssignment('production=["prod"]')).toEqual(['production', ['prod']]);
    expect(parseAssignment('replicas=3')).toEqual(['replicas', 3]);
    expect(parseAssignment('owner=team-search')).toEqual(['owner', 'team-search']);
    expect(parseAssignment('tag=1.10')).toEqual(['tag', '1.10']);
    expect(parseAssignment('ratio=0.5')).toEqual(['ratio', 0.5]);
  });
});

describe('bakes cancel', () => {
  let server: Server;
  beforeAll(async () => {
    // The baking service answers a cancel of a bake that already ended with the bake as it is.
    server = createServer((_req, res) => {
      res.writeHead(202, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: 'bake-d2f50b3ad898', state: 'succeeded' }));
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    process.env.SLIPWAY_BAKING_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_TOKEN = 'test-token';
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('says a bake that already ended has nothing to cancel, and fails', async () => {
    await expect(cancelBake('bake-d2f50b3ad898', {})).rejects.toThrow(
      'bake-d2f50b3ad898 already succeeded: nothing to cancel',
    );
  });
});

describe('services set names a registered service; services add registers a new one', () => {
  // A stand-in metadata service holding one service, search; it records every write.
  let server: Server;
  const writes: Array<{ url: string; ifMatch: string | undefined; body: string }> = [];
  let ghostDeleted = false;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const json = (status: number, value: unknown, type = 'application/json') => {
          res.writeHead(status, { 'Content-Type': type });
          res.end(JSON.stringify(value));
        };
        const search = {
          name: 'search',
          metadata: { owner: 'team-search' },
          revision: 1,
          updatedAt: '2026-12-06T00:00:00Z',
          updatedBy: 'admin',
        };
        if (req.method === 'GET' && req.url?.startsWith('/services?')) return json(200, { items: [search] });
        if (req.method === 'GET' && req.url === '/services/search') return json(200, search);
        // ghost is deleted by someone else right after this CLI's first read of it.
        if (req.method === 'GET' && req.url === '/services/ghost' && !ghostDeleted) {
          ghostDeleted = true;
          return json(200, { ...search, name: 'ghost' });
        }
        if (req.method === 'GET')
          return json(404, { title: 'Not Found', status: 404, detail: 'no service' }, 'application/problem+json');
        writes.push({ url: req.url!, ifMatch: req.headers['if-match'], body });
        // As the metadata service does: a write to a service gone since it was read is refused
        // when it names the revision read; without If-Match it would register the service again.
        if (req.url === '/services/ghost' && ghostDeleted && req.headers['if-match'] !== undefined)
          return json(
            412,
            { status: 412, detail: 'service ghost is at revision none, not 1: read it again' },
            'application/problem+json',
          );
        if (req.url === '/services/search' && req.headers['if-match'] === '"0"')
          return json(
            412,
            { status: 412, detail: 'service search is at revision 1, not 0: read it again' },
            'application/problem+json',
          );
        return json(req.url === '/services/search' ? 200 : 201, {
          ...search,
          name: req.url!.slice('/services/'.length),
          revision: 1,
        });
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    process.env.SLIPWAY_METADATA_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_TOKEN = 'test-token';
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('refuses a typo of a registered name, naming the nearest and how to register a new one, and stores nothing', async () => {
    writes.length = 0;
    const refused = set('serach', ['owner=x'], {});
    await expect(refused).rejects.toThrow(
      'there is no service serach; did you mean search? To register a new one: slipway services add serach owner=x',
    );
    await expect(refused).rejects.toMatchObject({ usage: false }); // exit 1
    await expect(set('billing', ['owner=team-billing', 'tags=["a b"]'], {})).rejects.toThrow(
      `there is no service billing. To register a new one: slipway services add billing owner=team-billing 'tags=["a b"]'`,
    );
    expect(writes).toEqual([]);
  });

  it('changes a registered service as before', async () => {
    writes.length = 0;
    await set('search', ['contact=a@example.com'], { json: true });
    expect(writes).toEqual([{ url: '/services/search', ifMatch: '"1"', body: '{"contact":"a@example.com"}' }]);
  });

  it('never registers again a service deleted between its read and its write (the write names the revision read)', async () => {
    writes.length = 0;
    await expect(set('ghost', ['contact=a@example.com'], {})).rejects.toThrow(/there is no service ghost/);
    expect(writes).toEqual([{ url: '/services/ghost', ifMatch: '"1"', body: '{"contact":"a@example.com"}' }]);
  });

  it('registers a new service only if it is new (If-Match "0": a service registered meanwhile is not merged into)', async () => {
    writes.length = 0;
    await add('billing', ['owner=team-billing'], { json: true });
    expect(writes).toEqual([{ url: '/services/billing', ifMatch: '"0"', body: '{"owner":"team-billing"}' }]);
    await expect(add('search', ['owner=x'], {})).rejects.toThrow(
      'search is registered already: change it with slipway services set search owner=x',
    );
  });

  it('names the nearest registered service for a typo in a release or a promote, before asking the orchestrator', async () => {
    const typo = 'there is no service serach; did you mean search? (slipway services list)';
    await expect(promote('serach', 'staging', 'prod', { message: 'x' })).rejects.toThrow(typo);
    await expect(release(['search@1.0.0', 'serach@1.0.0'], { message: 'x' })).rejects.toThrow(typo);
  });
});

describe('services set and add with the platform stopped', () => {
  it('names the metadata service it could not reach, as every other command does', async () => {
    process.env.SLIPWAY_METADATA_URL = 'http://127.0.0.1:1';
    process.env.SLIPWAY_TOKEN = 'test-token';
    const unreachable = 'cannot reach the metadata service at http://127.0.0.1:1 (SLIPWAY_METADATA_URL)';
    await expect(set('search', ['owner=x'], {})).rejects.toThrow(unreachable);
    await expect(add('billing', ['owner=x'], {})).rejects.toThrow(unreachable);
  });
});
