import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cuttingProxy, type CuttingProxy } from '../../../test/e2e/cutting-proxy.js';
import { streamEvents } from './events.js';

// A deployment's stream as the services send it: the events so far in one write (up to four),
// then one every 20 ms, after the Last-Event-ID asked for, to ten, then its end; served through
// a proxy that cuts it every 3 events.
let server: Server;
let proxy: CuttingProxy;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    let n = Number(String(req.headers['last-event-id'] ?? '0-0').split('-')[0]);
    const event = (i: number) => `id: ${i}-0\nevent: step\ndata: {"n":${i}}\n\n`;
    let history = '';
    while (n < 10 && history.split('id: ').length <= 4) history += event(++n);
    res.write(history);
    const timer = setInterval(() => {
      if (n === 10) {
        res.end('event: end\ndata: {"state":"succeeded"}\n\n');
        clearInterval(timer);
        return;
      }
      n++;
      res.write(`${event(n)}: keep-alive\n\n`);
    }, 20);
    res.on('close', () => clearInterval(timer));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  proxy = await cuttingProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  process.env.SLIPWAY_ORCHESTRATOR_URL = proxy.url;
  process.env.SLIPWAY_TOKEN = 'test-token';
});

afterAll(async () => {
  await proxy.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('streamEvents', () => {
  it('picks a cut stream up where it was (Last-Event-ID): every event once, in order, to the end', async () => {
    const seen: string[] = [];
    const stderr = process.stderr.write;
    const said: string[] = [];
    process.stderr.write = ((text: string) => said.push(text) > 0) as typeof process.stderr.write;
    try {
      for await (const event of streamEvents('orchestrator', '/deployments/dep-test123/events', 'none', {
        work: 'the deployment',
        again: 'slipway watch dep-test123',
      }))
        seen.push(event.event === 'end' ? 'end' : String((JSON.parse(event.data) as { n: number }).n));
    } finally {
      process.stderr.write = stderr;
    }
    expect(seen).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', 'end']);
    expect(proxy.cuts).toBeGreaterThan(1);
    // Each stream after the first was asked from the last event seen.
    const asked = proxy.asked.map((id) => Number(id.split('-')[0] || 0));
    expect(proxy.asked[0]).toBe('');
    expect(asked.slice(1).every((n, i) => n > asked[i]!)).toBe(true);
    // Only the CLI's own lines: jest's worker may write here what an earlier file left behind.
    expect(said.filter((text) => text.startsWith('slipway:'))).toEqual([
      "slipway: the orchestrator's event stream was cut; trying again — the deployment keeps running on the platform\n",
    ]);
  });
});
