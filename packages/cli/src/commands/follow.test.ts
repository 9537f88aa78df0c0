import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { takesEffect, watch } from './follow.js';

type Record_ = Parameters<typeof takesEffect>[0];
const waiting = (context: Record_['context']) =>
  ({
    actions: [
      { name: 'enable-new-group', state: 'done', attempts: 1 },
      { name: 'burn-in', state: 'running', attempts: 1 },
    ],
    current: 1,
    context,
  }) as unknown as Record_;

describe('when a pause or cancel takes effect', () => {
  it("reads the wait's seconds left as the number the orchestrator sends, not from its words", () => {
    expect(takesEffect(waiting({ progress: 'burn-in: the traffic looks fine', secondsLeft: 40 }))).toBe(
      'after burn-in, in about 40 s',
    );
    expect(takesEffect(waiting({ progress: 'instances healthy: 1 of 2' }))).toBe('after burn-in');
  });
});

describe('following a deployment that someone else pauses or cancels', () => {
  // A stand-in orchestrator: bob pauses alice's deployment, then alice cancels it.
  const at = '2026-12-06T08:18:58.000Z';
  const said = [
    ['queued', {}],
    ['pause-requested', { by: 'bob' }],
    ['cancel-requested', { by: 'alice' }],
    ['finished', { state: 'cancelled', reason: 'cancelled by alice' }],
  ] as const;
  let server: Server;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      if (req.url === '/deployments/dep-abc123/events') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        for (const [event, data] of said)
          res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, at, ...data })}\n\n`);
        return res.end('event: end\ndata: {}\n\n');
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: 'dep-abc123', state: 'cancelled', reason: 'cancelled by alice' }));
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    process.env.SLIPWAY_ORCHESTRATOR_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_TOKEN = 'test-token';
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('says who asked each pause and cancel, not just that one was asked', async () => {
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => out.push(String(chunk)) > 0);
    await expect(watch('dep-abc123', {})).rejects.toThrow('dep-abc123 cancelled: cancelled by alice');
    write.mockRestore();
    expect(out.join('')).toContain('08:18:58 pause asked by bob\n');
    expect(out.join('')).toContain('08:18:58 cancel asked by alice\n');
  });
});
