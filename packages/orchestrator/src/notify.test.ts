import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@slipway/core';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deployment } from './deployments/deployment.js';
import { createNotifier } from './notify.js';

// An incoming webhook standing for Slack's: it keeps what it is sent.
let server: Server;
const received: Array<{ text: string; blocks?: Array<{ type: string; elements?: Array<Record<string, string>> }> }> =
  [];
// The Idempotency-Key header of each request, in the order received.
const keys: Array<string | undefined> = [];

beforeAll(async () => {
  // The stand-in for Slack listens on this machine: the operator allows private addresses here.
  process.env.SLIPWAY_ALLOW_PRIVATE_URLS = 'true';
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      keys.push(req.headers['idempotency-key'] as string | undefined);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  delete process.env.SLIPWAY_ALLOW_PRIVATE_URLS;
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
  actions: [],
  context: {
    imageVersion: '1.4.0',
    commit: 'c0ffee0000000000',
    sourceCommit: '5eed0000aaaabbbbccccddddeeeeffff00001111',
    previous: 'search-prod-v003',
    group: 'search-prod-v004',
  },
} as unknown as Deployment;

describe('Slack notifications', () => {
  const notifier = () =>
    createNotifier({
      peers: { service: async () => ({ name: 'search', properties: {} }) },
      logger: createLogger({ name: 'test', level: 'silent' }),
      slackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    });
  const buttonsOf = (m: (typeof received)[number]) =>
    (m.blocks?.find((b) => b.type === 'actions')?.elements ?? []).map((e) => [e.action_id, e.value]);
  const saidOf = (m: (typeof received)[number]) =>
    (m.blocks?.find((b) => b.type === 'context')?.elements ?? []).map((e) => e.text).join(' ');

  it('carry Roll back and Pause while running, Undo once deployed, each said in words, and who acted from where', async () => {
    received.length = 0;
    await notifier().notify(deployment, 'start');
    await notifier().notify({ ...deployment, state: 'succeeded' }, 'success');
    // Keyed by deployment and outcome, for a receiver to drop a second delivery.
    expect(received.map((m) => (m.blocks?.[0] as { block_id?: string } | undefined)?.block_id)).toEqual(
      expect.arrayContaining(['dep-abc123def:start']),
    );
    expect(received.map(buttonsOf)).toEqual([
      [
        ['slipway:rollback', '{"deployment":"dep-abc123def"}'],
        ['slipway:pause', '{"deployment":"dep-abc123def"}'],
      ],
      // Undo names the deployment it was sent for: pressed after a newer one, it is refused.
      [['slipway:undo', '{"deployment":"dep-abc123def","service":"search","env":"prod"}']],
    ]);
    expect(received[0]!.text).toMatch(
      /^:rocket: alice \(via slack\) deploying search prod: img-14 \(1\.4\.0, source 5eed0000aaaa\), config c0ffee000000/,
    );
    expect(saidOf(received[0]!)).toBe(
      '*Roll back* puts search-prod-v003 back in service and takes the new group out; *Pause* stops it after the action running now (resume with /slipway resume dep-abc123def).',
    );
    expect(saidOf(received[1]!)).toBe('*Undo* deploys the release before this one again (its image and config).');
  });

  it('say a downgrade when the deployment goes back to an older version', async () => {
    received.length = 0;
    await notifier().notify({ ...deployment, context: { ...deployment.context, downgradeFrom: '1.5.0' } }, 'start');
    expect(received[0]!.text).toMatch(/deploying search prod: img-14 .*\(a downgrade from 1\.5\.0\)/);
  });

  it('do not claim there is no release before one that starts before its current group is found', async () => {
    received.length = 0;
    const { previous: _previous, ...context } = deployment.context;
    await notifier().notify({ ...deployment, context } as Deployment, 'start');
    expect(saidOf(received[0]!)).toBe(
      '*Roll back* takes the new group out and leaves the group serving before it (if any) in service; *Pause* stops it after the action running now (resume with /slipway resume dep-abc123def).',
    );
  });

  it('offer Roll back on a failed deployment whose group stayed in service, and say why there is none otherwise', async () => {
    received.length = 0;
    const failed = { ...deployment, state: 'failed', reason: 'unhealthy' } as Deployment;
    const inService = {
      ...failed,
      context: { ...failed.context, enabled: true },
      actions: [{ name: 'take-new-group-out', state: 'failed', attempts: 1 }],
    } as Deployment;
    await notifier().notify(inService, 'failure');
    await notifier().notify(failed, 'failure'); // failed before taking traffic
    await notifier().notify({ ...deployment, state: 'rolled-back', reason: 'burn-in' } as Deployment, 'rollback');
    expect(received.map(buttonsOf)).toEqual([
      [['slipway:rollback', '{"deployment":"dep-abc123def","service":"search","env":"prod"}']],
      [],
      [],
    ]);
    expect(saidOf(received[0]!)).toBe(
      'search-prod-v004 is still in service: its rollback did not finish. *Roll back* deploys the release it replaced (search-prod-v003) again; search-prod-v004 leaves service.',
    );
    expect(saidOf(received[1]!)).toMatch(/^search-prod-v003 serves, as before this deployment: nothing to roll back/);
    expect(saidOf(received[2]!)).toMatch(/No Undo here — it would go one release further back/);
  });

  it("name the traffic's judgement in a failure, also when something else failed it", async () => {
    received.length = 0;
    const said =
      'new 61/1,204 errors (5.07 %), old 6/1,180 (0.51 %): the new group fails more often (p = 6.9e-13 < 0.005)';
    const judgement = { verdict: 'fail', at: '', new: { group: 'search-prod-v004', requests: 1204, errors: 61 }, said };
    const traffic = { 'burn-in': { since: '', milestones: 1, samples: [], judgement } };
    const byTraffic = { ...deployment, state: 'rolled-back', reason: `burn-in: traffic: ${said}` };
    const byCheck = { ...byTraffic, reason: 'burn-in: check errors: 0.2 is not < 0.05 (3 times)' };
    await notifier().notify({ ...byTraffic, context: { ...deployment.context, traffic } } as Deployment, 'rollback');
    await notifier().notify({ ...byCheck, context: { ...deployment.context, traffic } } as Deployment, 'rollback');
    expect(received[0]!.text).toMatch(
      /rolled back .*: burn-in: traffic: new 61\/1,204 errors \(5\.07 %\), old 6\/1,180 \(0\.51 %\): the new group fails more often \(p = 6\.9e-13 < 0\.005\) \[dep-abc123def\]$/,
    );
    expect(received[1]!.text).toMatch(
      /: burn-in: check errors: 0\.2 is not < 0\.05 \(3 times\); traffic: new 61\/1,204 errors .* \[dep-abc123def\]$/,
    );
  });
});

describe('a webhook notification (issue 22 item 6: the outbox delivers at least once)', () => {
  it('carries its key, the same at every delivery, in its body and its Idempotency-Key, for the receiver to drop a second', async () => {
    received.length = 0;
    keys.length = 0;
    const notifier = createNotifier({
      peers: { service: async () => ({ name: 'search', properties: {} }) },
      logger: createLogger({ name: 'test', level: 'silent' }),
      webhookUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/json`,
    });
    const done = { ...deployment, state: 'succeeded' } as Deployment;
    await notifier.notify(done, 'success');
    await notifier.notify(done, 'success');
    expect(received.map((m) => (m as { key?: string }).key)).toEqual([
      'dep-abc123def:success',
      'dep-abc123def:success',
    ]);
    expect(keys).toEqual(['dep-abc123def:success', 'dep-abc123def:success']);
  });
});

describe('the slack and webhook properties (#24 attack 1)', () => {
  it('never post to a loopback, link-local or private address a deployer wrote there', async () => {
    delete process.env.SLIPWAY_ALLOW_PRIVATE_URLS;
    try {
      received.length = 0;
      const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/internal`;
      const warnings: string[] = [];
      const logger = createLogger({ name: 'test', level: 'silent' });
      logger.warn = ((fields: { err?: Error }) => void warnings.push(String(fields.err?.message))) as never;
      const notifier = createNotifier({
        peers: { service: async () => ({ name: 'search', properties: { slack: hook, webhook: `${hook}/json` } }) },
        logger,
      });
      await notifier.notify({ ...deployment, state: 'succeeded' }, 'success');
      expect(received).toEqual([]);
      expect(warnings.join('\n')).toMatch(/not allowed: 127\.0\.0\.1 is a loopback address/);
    } finally {
      process.env.SLIPWAY_ALLOW_PRIVATE_URLS = 'true';
    }
  });
});
