import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promote, release, watchRelease } from './release.js';

/**
 * A promotion as a person follows it, against a stand-in platform: one service, search (prod and
 * staging, a sync set live), whose promotion to prod waits until 08:18:04 (its --after).
 */
let server: Server;
let events: ServerResponse | undefined;
let pausedStream: ServerResponse | undefined;
const streamOpen = () => new Promise<void>((resolve) => (onStream = resolve));
let onStream: () => void = () => undefined;

const PREVIEW = {
  clusters: [
    {
      service: 'search',
      env: 'prod',
      from: { image: 'img-search-0', version: '1.3.0', commit: 'a'.repeat(40), instances: 2 },
      to: { image: 'img-search-1', version: '1.4.0', commit: 'a'.repeat(40), instances: 2 },
      policy: { requireConfirmation: false },
    },
  ],
  warnings: [],
  confirmationRequired: false,
  confirmation: 'c0ffee',
};
const RELEASE = {
  id: 'rel-abc123',
  message: 'Promote',
  by: 'ana',
  onFailure: 'stop',
  state: 'waiting',
  createdAt: '2026-12-06T08:17:44.000Z',
  notBefore: '2026-12-06T08:18:04.000Z',
  revision: 1,
  items: [
    {
      service: 'search',
      image: 'img-search-1',
      version: '1.4.0',
      env: 'prod',
      clusters: ['prod'],
      leftOut: [],
      promotedFrom: { env: 'staging', deployment: 'dep-staging1', since: '2026-12-06T08:17:44.000Z' },
    },
  ],
  waves: [{ index: 0, bakeSeconds: 60, clusters: [{ service: 'search', env: 'prod' }] }],
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': status < 300 ? 'application/json' : 'application/problem+json' });
      res.end(JSON.stringify(body));
    };
    const path = req.url!;
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => route(path, body, json, res));
  });
  function route(path: string, body: string, json: (status: number, body: unknown) => void, res: ServerResponse) {
    if (path.startsWith('/services?')) return json(200, { items: [{ name: 'search', metadata: {} }] });
    if (path === '/services/search')
      return json(200, { name: 'search', metadata: { clusters: { live: ['prod-a', 'prod-b'] } } });
    if (path === '/config/search')
      return json(200, { service: 'search', environments: ['prod', 'prod-a', 'prod-b', 'staging'] });
    if (path === '/images?service=search&kind=service')
      return json(200, {
        items: [
          { id: 'img-search-1', kind: 'service', service: 'search', version: '1.4.0', createdAt: RELEASE.createdAt },
        ],
      });
    if (path === '/releases/preview' && body.includes('"version":"1.4"'))
      return json(422, {
        status: 422,
        title: 'Unprocessable',
        detail: 'the release cannot start: no image of search 1.4: bake it first',
      });
    // The orchestrator's refusal of a name that is not one, in its words.
    const unknown = /"(stagin|prd|liv)"/.exec(body)?.[1];
    if (path === '/releases/preview' && unknown)
      return json(422, {
        status: 422,
        title: 'Unprocessable',
        detail: `the release cannot start: search-${unknown}: no configuration repository search-${unknown}`,
      });
    if (path === '/releases/preview') return json(200, PREVIEW);
    if (path === '/releases' && body.includes('"message":"nothing"'))
      return json(200, {
        id: 'rel-abc123',
        state: 'skipped',
        reason: 'nothing to change: search prod already runs img-search-1 (1.4.0)',
      });
    if (path === '/releases') return json(202, { id: RELEASE.id, state: RELEASE.state });
    // Waiting until its stream ends, as the release does until its time.
    if (path === '/releases/rel-abc123') return json(200, events ? { ...RELEASE, state: 'succeeded' } : RELEASE);
    if (path === '/releases/rel-abc123/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': open\n\n');
      events = res;
      return onStream();
    }
    // Paused by someone else while it is followed: its stream stays open, as a release's does until it finishes.
    if (path === '/releases/rel-pause01') return json(200, { ...RELEASE, id: 'rel-pause01', state: 'paused' });
    if (path === '/releases/rel-pause01/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const event = { type: 'paused', state: 'paused', by: 'erin', at: '2026-12-06T08:20:00.000Z' };
      res.write(`id: 1\nevent: paused\ndata: ${JSON.stringify(event)}\n\n`);
      pausedStream = res;
      return;
    }
    json(404, { status: 404, title: 'Not Found', detail: `no route ${path}` });
  }
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.SLIPWAY_ORCHESTRATOR_URL = url;
  process.env.SLIPWAY_METADATA_URL = url;
  process.env.SLIPWAY_CONFIG_URL = url;
  process.env.SLIPWAY_BAKING_URL = url;
  process.env.SLIPWAY_TOKEN = 'test-token';
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

let out: string[];
let err: string[];
beforeEach(() => {
  events = undefined;
  out = [];
  err = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => out.push(String(chunk)) > 0);
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => err.push(String(chunk)) > 0);
});
const restore = () => jest.restoreAllMocks();
const end = () => {
  events!.end('event: end\ndata: {}\n\n');
};

describe('slipway promote --after', () => {
  it('says the promotion waits, until when and why, rather than nothing for as long as --after', async () => {
    const promoting = promote('search', 'staging', 'prod', { after: '20s', yes: true }).finally(restore);
    await streamOpen();
    end();
    await promoting;
    expect(out.join('')).toContain(
      'waiting until 08:18:04 UTC: a promotion starts once its image has served in staging that long (--after)',
    );
  });
});

describe('Ctrl-C while a promotion (a release) is followed', () => {
  it('stops following, not the release, and says how to follow or stop it, as a deploy does', async () => {
    const exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const promoting = promote('search', 'staging', 'prod', { yes: true }).finally(restore);
    await streamOpen();
    process.emit('SIGINT');
    const said = err.join('');
    const codes = exit.mock.calls.map(([code]) => code);
    end();
    await promoting;
    expect(codes).toEqual([130]);
    expect(said).toContain(
      'Release rel-abc123 keeps running. Follow it again: slipway watch rel-abc123  (or stop it: slipway release-cancel rel-abc123)',
    );
  });
});

describe('a typo in an environment or sync set name, or a version', () => {
  it('is said with the nearest environment or sync set, as deploy says it, where the orchestrator names a repository', async () => {
    const options = { message: 'x', yes: true };
    await expect(promote('search', 'stagin', 'prod', options)).rejects.toThrow(
      'search has no environment stagin; did you mean staging? (it has prod, prod-a, prod-b, staging)',
    );
    await expect(promote('search', 'staging', 'prd', options)).rejects.toThrow(
      'search has no environment or sync set prd; did you mean prod? (it has prod, prod-a, prod-b, staging; sync set live)',
    );
    await expect(release(['search@1.4.0'], { ...options, env: 'liv' })).rejects.toThrow(
      'search has no environment or sync set liv; did you mean live?',
    );
    await expect(release(['search@1.4'], options)).rejects.toThrow(
      'search has no image of version 1.4; did you mean 1.4.0? Or bake it with slipway bake search 1.4',
    );
    restore();
  });
});

describe('slipway promote --no-wait', () => {
  it('prints the id alone on stdout, and says on stderr that a promotion that changes nothing ended skipped, and why', async () => {
    await promote('search', 'staging', 'prod', { message: 'nothing', yes: true, wait: false }).finally(restore);
    expect(out.join('')).toBe('rel-abc123\n');
    expect(err.join('')).toContain(
      'slipway: rel-abc123 skipped: nothing to change: search prod already runs img-search-1 (1.4.0)\n',
    );
  });

  it('says a promotion that waits its --after waits, and how to follow it', async () => {
    await promote('search', 'staging', 'prod', { message: 'later', after: '1h', yes: true, wait: false }).finally(
      restore,
    );
    expect(out.join('')).toBe('rel-abc123\n');
    expect(err.join('')).toContain('slipway: rel-abc123 is waiting (--after): slipway watch rel-abc123 follows it\n');
  });
});

describe('slipway watch rel-… when another person pauses the release', () => {
  it("says who paused it and how to resume it, and ends (exit 1) as a paused deployment's watch does", async () => {
    const watching = watchRelease('rel-pause01', {}).then(
      () => 'succeeded',
      (error: Error) => error.message,
    );
    let timer: NodeJS.Timeout | undefined;
    const still = new Promise<string>(
      (resolve) => (timer = setTimeout(() => resolve('still following after 3 s'), 3000)),
    );
    const outcome = await Promise.race([watching, still]).finally(restore);
    clearTimeout(timer);
    // A watch that kept following ends with the stream.
    pausedStream?.end('event: end\ndata: {}\n\n');
    await watching;
    expect(outcome).toBe(
      'rel-pause01 is paused, not finished: slipway release-resume rel-pause01, then slipway watch rel-pause01',
    );
    expect(out.join('')).toContain('paused by erin: slipway release-resume rel-pause01');
  });
});
