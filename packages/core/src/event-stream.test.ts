import { afterEach, describe, expect, it } from '@jest/globals';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendEventStream, type StreamEntry } from './event-stream.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A stream whose thing never finishes and says nothing after its first entry: a release waiting out its bake. */
async function silentStream(keepAliveMs: number): Promise<string> {
  const entries: StreamEntry[] = [{ id: '1-0', event: 'started', data: '{}' }];
  const app = express();
  app.get('/events', (req, res) => {
    void sendEventStream(
      req,
      res,
      {
        read: async (after) => (after === '0-0' ? entries : []),
        follow: async (_after, ms) => {
          await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 50)));
          return [];
        },
        finished: async () => undefined,
        close: () => undefined,
      },
      { keepAliveMs },
    );
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server!.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
}

describe('sendEventStream', () => {
  it('sends a keep-alive comment while nothing happens, so no reader or proxy takes the silence for a dead stream', async () => {
    const url = await silentStream(100);
    const controller = new AbortController();
    const response = await fetch(url, { signal: controller.signal });
    const reader = response.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    while ((text.match(/^: keep-alive$/gm) ?? []).length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    controller.abort();
    expect(text).toMatch(/^id: 1-0\nevent: started\ndata: \{\}\n\n/);
    expect(text.match(/^: keep-alive\n\n/gm)).toHaveLength(2);
  });
});
