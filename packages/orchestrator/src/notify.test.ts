import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@slipway/core';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deployment } from './deployment.js';
import { createNotifier } from './notify.js';

// An incoming webhook standing for Slack's: it keeps what it is sent.
let server: Server;
const received: Array<{ text: string; blocks?: Array<{ type: string; elements?: Array<Record<string, string>> }> }> =
  [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const deployment = {
  id: 'dep-abc123def',
  service: 'search',
  env: 'prod',
  image: 'img-14',
  message: 'faster',
  by: 'alice',
  via: 'slack',
  state: 'running',
  context: { imageVersion: '1.4.0', commit: 'c0ffee0000000000' },
} as unknown as Deployment;

describe('Slack notifications', () => {
  it('carry Roll back and Pause while running, Undo once deployed, and say who acted from where', async () => {
    const notifier = createNotifier({
      peers: { service: async () => ({ name: 'search', properties: {} }) },
      logger: createLogger({ name: 'test', level: 'silent' }),
      slackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    });
    await notifier.notify(deployment, 'start');
    await notifier.notify({ ...deployment, state: 'succeeded' }, 'success');
    await notifier.notify({ ...deployment, state: 'failed', reason: 'unhealthy' }, 'failure');
    const buttons = received.map((m) =>
      (m.blocks?.find((b) => b.type === 'actions')?.elements ?? []).map((e) => [e.action_id, e.value]),
    );
    expect(buttons).toEqual([
      [
        ['slipway:rollback', '{"deployment":"dep-abc123def"}'],
        ['slipway:pause', '{"deployment":"dep-abc123def"}'],
      ],
      [['slipway:undo', '{"service":"search","env":"prod"}']],
      [],
    ]);
    expect(received[0]!.text).toMatch(/^:rocket: alice \(via slack\) deploying search prod: img-14 \(1\.4\.0\)/);
  });
});
