import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger, UnprocessableError } from '@slipway/core';
import { type Redis, createRedis } from '@slipway/core/redis';
import { startRedis, type TestRedis } from '@slipway/test-utils';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { redisSeenRequests } from './replay.js';
import type { Actor, Deployment, Preview, SlipwayApi } from './slipway.js';
import { SlackStandIn } from './stand-in.js';
import { createChatUsers } from './users.js';

const SECRET = 'test-signing-secret-8f3a';
const alice = { id: 'U0ALICE' }; // deployer
const bob = { id: 'U0BOB' }; // reader
const mallory = { id: 'U0MALLORY' }; // not a Slipway user

interface Call {
  actor: Actor;
  call: string;
  args: unknown[];
}

/** search's images, newest first: two of 1.4.0 (the newer is what `deploy … 1.4.0` means). */
const IMAGES = [
  { id: 'img-14', version: '1.4.0', createdAt: '2026-01-03T00:00:00Z' },
  { id: 'img-14a', version: '1.4.0', createdAt: '2026-01-02T00:00:00Z' },
  { id: 'img-3', version: '1.3.0', createdAt: '2026-01-01T00:00:00Z' },
];

/**
 * Slipway as chat sees it, in memory: each read of a deployment moves it one step on
 * (queued → starting → in service → succeeded), so a follow-up sees it all happen.
 */
function fakeSlipway(options: { slowStatusMs?: number; clusterTotal?: number; versionSaid?: boolean } = {}) {
  const calls: Call[] = [];
  /** Environments marked production: their changes need the preview's confirmation. */
  const production = new Set<string>();
  /** What serves each env now (a named undo of anything else is refused, as the orchestrator does). */
  const serving = new Map<string, string>();
  const preview = (action: Preview['action'], service: string, env: string, image: string): Preview => {
    const from = { image: 'img-13', version: '1.3.0', commit: 'a'.repeat(40), instances: 2 };
    const to = { image, version: image === 'img-2' ? '1.2.0' : '1.4.0', commit: 'a'.repeat(40), instances: 2 };
    const downgrade = to.version < from.version;
    return {
      action,
      confirmationRequired: production.has(env),
      confirmation: `${service} ${env} img-13@aaaaaaaaaaaa→${image}@aaaaaaaaaaaa`,
      clusters: [
        {
          service,
          env,
          from,
          to,
          unchanged: false,
          downgrade,
          sameVersion: false,
          policy: { production: production.has(env), requireConfirmation: production.has(env) },
        },
      ],
      warnings: downgrade ? [`${service} ${env}: a downgrade, from img-13 (1.3.0) back to ${image} (1.2.0)`] : [],
    };
  };
  const deployments = new Map<string, Deployment>();
  let next = 0;
  const steps: Array<(d: Deployment) => void> = [
    (d) => (d.state = 'running'),
    (d) => {
      d.current = 1;
      d.context.enabled = true;
      d.context.progress = 'burn-in 3 s left';
    },
    (d) => (d.state = 'succeeded'),
  ];
  const start = (actor: Actor, service: string, env: string, image: string, message: string) => {
    const id = `dep-test${String(next++).padStart(4, '0')}`;
    deployments.set(id, {
      id,
      service,
      env,
      image,
      message,
      strategy: 'red-black',
      by: actor.subject,
      via: 'slack',
      state: 'queued',
      createdAt: new Date().toISOString(),
      actions: [
        { name: 'create-server-group', state: 'pending', attempts: 0 },
        { name: 'burn-in', state: 'pending', attempts: 0 },
      ],
      current: 0,
      context: { imageVersion: '1.4.0' },
    });
    return { id, state: 'queued' };
  };
  const slipway = (actor: Actor): SlipwayApi => {
    const record = (call: string, ...args: unknown[]) => calls.push({ actor, call, args });
    return {
      async clusters(query) {
        record('clusters', query);
        if (options.slowStatusMs) await new Promise((r) => setTimeout(r, options.slowStatusMs));
        const items = [
          {
            service: 'search',
            env: 'prod',
            active: {
              name: 'search-prod-v003',
              disabled: false,
              capacity: { min: 2, desired: 2, max: 2 },
              image: 'img-3',
              // An orchestrator of today says the version the deployment recorded.
              ...(options.versionSaid ? { version: '1.3.0' } : {}),
              instances: [],
            },
            retained: [],
            health: { healthy: 2, instances: 2 },
          },
        ].filter((c) => !query.service || query.service.includes(c.service));
        // As a company's orchestrator answers the first screenful of its 4,000 clusters.
        return { items, total: options.clusterTotal ?? items.length };
      },
      async environment(service, env) {
        record('environment', service, env);
        return { service, env, active: null, retained: [], health: {} };
      },
      async deployments(service, env) {
        record('deployments', service, env);
        return [...deployments.values()];
      },
      async deployment(id) {
        const d = deployments.get(id)!;
        const step = steps[d.current + (d.state === 'queued' ? 0 : 1)];
        const snapshot = structuredClone(d);
        if (d.state !== 'succeeded' && d.state !== 'rolled-back') step?.(d);
        return snapshot;
      },
      async deploy(request) {
        record('deploy', request);
        // As the orchestrator refuses an image it does not have (422), before anything starts.
        if (!IMAGES.some((i) => i.id === request.image))
          throw new UnprocessableError(`image ${request.image} is not an image of ${request.service}`);
        return start(actor, request.service, request.env, request.image, request.message);
      },
      async undo(service, env, message, named) {
        record('undo', service, env, message, named);
        return start(actor, service, env, 'img-2', message);
      },
      async revertCommit(service, env, commit, message, named) {
        record('revertCommit', service, env, commit, message, named);
        return { ...start(actor, service, env, 'img-1', message), image: 'img-1', version: '1.3.0' };
      },
      async resolve(service, name) {
        record('resolve', service, name);
        // As the orchestrator refuses a service that is not registered.
        if (service !== 'search')
          throw new Error(`service ${service} is not registered: add it with PUT /services/${service} in metadata`);
        return name === 'live'
          ? { service, name, kind: 'set', clusters: ['prod-a', 'prod-b'] }
          : { service, name, kind: 'cluster', clusters: [name] };
      },
      async previewDeploy(request) {
        record('previewDeploy', request);
        return preview('deploy', request.service, request.env, request.image);
      },
      async previewUndo(service, env, deployment) {
        record('previewUndo', service, env, deployment);
        const now = serving.get(`${service} ${env}`);
        if (deployment && now && deployment !== now)
          throw new Error(`${deployment} no longer serves ${service} ${env}: ${now} does now (img-13)`);
        return { ...preview('undo', service, env, 'img-2'), ...(now ? { undoOf: now } : {}) };
      },
      async previewRevert(service, env, commit, deployment) {
        record('previewRevert', service, env, commit, deployment);
        return preview('revert', service, env, 'img-1');
      },
      async previewRelease(request) {
        record('previewRelease', request);
        return preview(
          'release',
          request.items[0]!.service,
          request.env ?? 'prod',
          request.items[0]!.image ?? 'img-14',
        );
      },
      async control(kind, id) {
        record('control', kind, id);
        const d = deployments.get(id)!;
        if (kind === 'rollback') {
          d.state = 'rolled-back';
          d.reason = `rollback asked by ${actor.subject}`;
        }
        return d;
      },
      async release(request) {
        record('release', request);
        return { id: 'rel-1', state: 'waiting' };
      },
      async sync() {
        record('sync');
        return { inSync: true, items: [] };
      },
      async bake(service, version) {
        record('bake', service, version);
        return { image: 'img-9', cached: true };
      },
      async bakeState(id) {
        return { id, kind: 'service', state: 'succeeded', image: 'img-9', requestedBy: actor.subject, createdAt: '' };
      },
      async images(service) {
        record('images', service);
        return service === 'search' ? IMAGES : [];
      },
    };
  };
  return { calls, slipway, deployments, start, production, serving };
}

let server: Server;
let slack: SlackStandIn;
let fake: ReturnType<typeof fakeSlipway>;
let redisServer: TestRedis;
let redis: Redis;
let prefix: string;

async function startChat(slipway: ReturnType<typeof fakeSlipway>, answerWithinMs?: number) {
  const app = createApp({
    signingSecret: SECRET,
    // Every replica shares what was received, through Redis.
    seen: redisSeenRequests(redis, prefix),
    users: createChatUsers({
      U0ALICE: { subject: 'alice', role: 'deployer' },
      U0BOB: { subject: 'bob', role: 'reader' },
    }),
    slipway: slipway.slipway,
    logger: createLogger({ name: 'chat', level: 'silent' }),
    follow: { pollMs: 10 },
    ...(answerWithinMs !== undefined ? { answerWithinMs } : {}),
  });
  const listening = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => listening.once('listening', resolve));
  return listening;
}

beforeAll(async () => {
  redisServer = await startRedis();
  redis = createRedis({ url: redisServer.url });
  prefix = redisServer.prefix();
  fake = fakeSlipway();
  server = await startChat(fake);
  slack = await SlackStandIn.start({
    signingSecret: SECRET,
    chatUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
});

afterAll(async () => {
  await slack.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  redis.disconnect();
  await redisServer.stop();
});

describe('POST /slack/commands', () => {
  it('answers a deploy at once, then updates one message through response_url until it ends', async () => {
    const answer = await slack.command('deploy search prod img-14 -m "Making everything faster"', alice);
    expect(answer.status).toBe(200);
    // Asked first, then acknowledged with what it deploys (the image with its version) and the deployment.
    expect(answer.body).toEqual({
      response_type: 'ephemeral',
      text: ':rocket: deploying search img-14 (1.4.0) to prod [dep-test0000]…',
    });
    const final = await slack.waitFor(answer.responseId, (m) => /deployed/.test(m.text ?? ''));
    expect(final.text).toMatch(/^:white_check_mark: search prod ← img-14 \(1\.4\.0\): deployed \[dep-/);
    const messages = slack.messages(answer.responseId);
    // One message, replaced each time; never more posts than Slack takes to one response_url.
    expect(messages.every((m) => m.replace_original === true && m.response_type === 'ephemeral')).toBe(true);
    expect(messages.length).toBeLessThanOrEqual(5);
    expect(messages.map((m) => m.text).at(-1)).toBe(final.text);
    expect(messages.some((m) => /in service, burn-in/.test(m.text ?? ''))).toBe(true);
    const deploy = fake.calls.find((c) => c.call === 'deploy')!;
    expect(deploy.actor).toEqual({ subject: 'alice', role: 'deployer' });
    expect(deploy.args[0]).toEqual({
      service: 'search',
      env: 'prod',
      image: 'img-14',
      message: 'Making everything faster',
      // What was previewed, or nothing: the orchestrator refuses it if the cluster changed since.
      confirm: 'search prod img-13@aaaaaaaaaaaa→img-14@aaaaaaaaaaaa',
    });
  });

  it('shows a production change (from → to) with a Confirm button, deploys nothing until it is pressed', async () => {
    fake.production.add('prod');
    try {
      const before = fake.calls.filter((c) => c.call === 'deploy').length;
      const answer = await slack.command('undo search prod -m "back to 1.2"', alice);
      expect(answer.body.text).toMatch(
        /^:raised_hand: search prod is production: nothing is changed until you confirm\./,
      );
      expect(answer.body.text).toContain(
        '*search prod*: img-13 (1.3.0) → img-2 (1.2.0), config unchanged, *a downgrade*',
      );
      expect(fake.calls.filter((c) => c.call === 'undo')).toHaveLength(0);
      const button = (answer.body.blocks as { elements?: { action_id: string; value: string }[] }[])
        .flatMap((b) => b.elements ?? [])
        .find((e) => e.action_id === 'slipway:confirm')!;
      expect(JSON.parse(button.value)).toEqual({
        verb: 'undo',
        service: 'search',
        env: 'prod',
        message: 'back to 1.2',
        confirm: 'search prod img-13@aaaaaaaaaaaa→img-2@aaaaaaaaaaaa',
      });
      const pressed = await slack.press({ actionId: 'slipway:confirm', value: button.value }, alice);
      await slack.waitFor(pressed.responseId, (m) => /deployed/.test(m.text ?? ''));
      expect(fake.calls.filter((c) => c.call === 'undo').at(-1)!.args).toEqual([
        'search',
        'prod',
        'back to 1.2',
        { confirm: 'search prod img-13@aaaaaaaaaaaa→img-2@aaaaaaaaaaaa' },
      ]);
      expect(fake.calls.filter((c) => c.call === 'deploy')).toHaveLength(before);
    } finally {
      fake.production.delete('prod');
    }
  });

  it('releases to a sync set named in a deploy, as the CLI does', async () => {
    const answer = await slack.command('deploy search live img-14 -m "everywhere"', alice);
    // Asked first, then said: the release it started, and the clusters of the set.
    expect(answer.body.text).toMatch(/^:package: release `rel-1` .*\(search img-14 to live: prod-a, prod-b\)$/);
    expect(fake.calls.filter((c) => c.call === 'release').at(-1)!.args[0]).toMatchObject({
      env: 'live',
      items: [{ service: 'search', image: 'img-14' }],
    });
  });

  it('reads Slack’s curly quotes as quotes', async () => {
    const answer = await slack.command('undo search prod -m “too slow”', alice);
    expect(answer.body.text).toMatch(/^:leftwards_arrow_with_hook: undoing search prod/);
    await slack.waitFor(answer.responseId, (m) => /deployed/.test(m.text ?? ''));
    expect(fake.calls.filter((c) => c.call === 'undo').at(-1)!.args).toEqual([
      'search',
      'prod',
      'too slow',
      { confirm: 'search prod img-13@aaaaaaaaaaaa→img-2@aaaaaaaaaaaa' },
    ]);
  });

  it('answers a read in the acknowledgement itself', async () => {
    const answer = await slack.command('status', bob);
    expect(answer.status).toBe(200);
    expect(answer.body.text).toBe('*search prod* search-prod-v003 img-3 (1.3.0) — 2/2 healthy');
    expect(slack.messages(answer.responseId)).toEqual([]);
  });

  it("asks for a screenful of clusters, those needing attention first, or one service's alone: never every cluster described (issue 28)", async () => {
    fake.calls.length = 0;
    await slack.command('status', bob);
    await slack.command('status search', bob);
    expect(fake.calls.filter((c) => c.call === 'clusters').map((c) => c.args[0])).toEqual([
      { order: 'attention', limit: 40 },
      { service: ['search'] },
    ]);
  });

  // The orchestrator answers any cluster asked about, one never deployed included: a newcomer's
  // typo was "*search prdo* — 0/0 healthy", or "no clusters deployed yet" for a service misspelt.
  it('says a typo of a service as Slipway refuses it, and an environment with nothing deployed as such, never "0/0 healthy"', async () => {
    const unregistered = ':warning: service serach is not registered: add it with PUT /services/serach in metadata';
    expect((await slack.command('status serach', bob)).body.text).toBe(unregistered);
    expect((await slack.command('status serach prod', bob)).body.text).toBe(unregistered);
    expect((await slack.command('status search prdo', bob)).body.text).toBe(
      'nothing deployed to search prdo: `/slipway status search` says where search runs',
    );
  });

  it('deploys a version as the CLI does: its newest image (issue 23 item 12)', async () => {
    const answer = await slack.command('deploy search prod 1.4.0 -m "by version"', alice);
    expect(answer.body.text).toMatch(/^:rocket: deploying search img-14 \(1\.4\.0\) to prod \[dep-test\d+\]…$/);
    await slack.waitFor(answer.responseId, (m) => /deployed/.test(m.text ?? ''));
    expect(fake.calls.filter((c) => c.call === 'deploy').at(-1)!.args[0]).toMatchObject({ image: 'img-14' });
    const none = await slack.command('deploy search prod 9.9.9 -m "no such version"', alice);
    expect(none.body.text).toBe(
      ':warning: search has no image of version 9.9.9: bake one with `/slipway bake search 9.9.9`',
    );
  });

  it('answers a typo with the refusal, never "deploying" first (issue 23 item 12)', async () => {
    const answer = await slack.command('deploy search prod img-41 -m "a typo"', alice);
    expect(answer.body.text).toBe(':warning: image img-41 is not an image of search');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(slack.messages(answer.responseId)).toEqual([]);
    const typoId = await slack.command('pause dep-nope', alice);
    expect(typoId.body.text).toMatch(/not a deployment id/);
  });

  it('says how to write a command it cannot read', async () => {
    const answer = await slack.command('deploy search prod img-14', alice);
    expect(answer.body.text).toMatch(/deploy needs a reason: -m "why"/);
    const unknown = await slack.command('launch', alice);
    expect(unknown.body.text).toMatch(/no command 'launch'/);
    const badName = await slack.command('status Search-Prod', alice);
    expect(badName.body.text).toBe(
      ':grey_question: "Search-Prod" is not a service name: lowercase letters and digits, 1 to 32',
    );
  });

  it('refuses a reader who asks to deploy, before asking Slipway anything', async () => {
    const before = fake.calls.length;
    const answer = await slack.command('deploy search prod img-14 -m "sneaky"', bob);
    expect(answer.body.text).toBe(':no_entry: bob is a reader in Slipway: deploy needs the deployer role.');
    expect(fake.calls.length).toBe(before);
  });

  it('refuses a Slack user it does not know', async () => {
    const answer = await slack.command('status', mallory);
    expect(answer.body.text).toMatch(/Slack user U0MALLORY is not a Slipway user/);
  });

  it('refuses a request with a wrong signature', async () => {
    const before = fake.calls.length;
    const answer = await slack.command('status', alice, { signingSecret: 'not-the-secret' });
    expect(answer.status).toBe(401);
    expect(fake.calls.length).toBe(before);
  });

  it('refuses a timestamp older than five minutes, even signed rightly', async () => {
    const answer = await slack.command('status', alice, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(answer.status).toBe(401);
  });

  it('refuses the same signed request sent twice (a replay)', async () => {
    const first = await slack.command('status', alice);
    expect(first.status).toBe(200);
    const again = await slack.send('/slack/commands', first.signed.body, first.responseId, {
      timestamp: first.signed.timestamp,
      signature: first.signed.signature,
    });
    expect(again.status).toBe(401);
  });

  it('refuses a replay whose signature has a tail Bolt ignores (`v0=…=x`), and changes nothing (#24 attack 4)', async () => {
    const first = await slack.command('deploy search prod img-14 -m "once"', alice);
    expect(first.status).toBe(200);
    const deploys = () => fake.calls.filter((c) => c.call === 'deploy').length;
    const before = deploys();
    for (const tail of ['=x', '=', '==v0']) {
      const again = await slack.send('/slack/commands', first.signed.body, first.responseId, {
        timestamp: first.signed.timestamp,
        signature: `${first.signed.signature}${tail}`,
      });
      expect(again.status).toBe(401);
      expect(again.body.text).toMatch(/received already/);
    }
    expect(deploys()).toBe(before);
  });

  it('refuses a replay sent to another replica: what was received is kept in Redis, not in one process (#24 attack 4)', async () => {
    const replica = await startChat(fake);
    try {
      const first = await slack.command('deploy search prod img-15 -m "once"', alice);
      expect(first.status).toBe(200);
      const before = fake.calls.length;
      const port = (replica.address() as AddressInfo).port;
      const again = await fetch(`http://127.0.0.1:${port}/slack/commands`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'X-Slack-Request-Timestamp': String(first.signed.timestamp),
          'X-Slack-Signature': first.signed.signature,
        },
        body: first.signed.body,
      });
      expect(again.status).toBe(401);
      expect(await again.text()).toMatch(/received already/);
      expect(fake.calls.length).toBe(before);
    } finally {
      replica.closeAllConnections();
      await new Promise((resolve) => replica.close(resolve));
    }
  });
});

describe('POST /slack/actions (buttons on notifications)', () => {
  it('rolls back as the person who pressed Roll back, and tells them how it ended', async () => {
    const { id } = fake.start({ subject: 'ci', role: 'deployer' }, 'search', 'prod', 'img-15', 'nightly');
    const pressed = await slack.press(
      { actionId: 'slipway:rollback', value: JSON.stringify({ deployment: id }), text: 'Roll back' },
      alice,
    );
    expect(pressed.status).toBe(200);
    const final = await slack.waitFor(pressed.responseId, (m) => /rolled back/.test(m.text ?? ''));
    expect(final.text).toContain('rollback asked by alice');
    expect(fake.calls.find((c) => c.call === 'control' && c.args[1] === id)?.actor.subject).toBe('alice');
    // A button's answers are new messages to the presser: the notification itself stays.
    expect(slack.messages(pressed.responseId).every((m) => m.replace_original === false)).toBe(true);
  });

  it('refuses a reader pressing Roll back, and rolls nothing back', async () => {
    const { id } = fake.start({ subject: 'ci', role: 'deployer' }, 'search', 'prod', 'img-16', 'nightly');
    const pressed = await slack.press(
      { actionId: 'slipway:rollback', value: JSON.stringify({ deployment: id }), text: 'Roll back' },
      bob,
    );
    expect(pressed.status).toBe(200);
    const refusal = await slack.waitFor(pressed.responseId, () => true);
    expect(refusal.text).toBe(':no_entry: bob is a reader in Slipway: Roll back needs the deployer role.');
    expect(fake.calls.some((c) => c.call === 'control' && c.args[1] === id)).toBe(false);
  });

  it('rolls a failed deployment whose group stayed in service back by undo, from what serves now', async () => {
    const { id } = fake.start({ subject: 'ci', role: 'deployer' }, 'search', 'prod', 'img-17', 'nightly');
    fake.deployments.get(id)!.state = 'failed';
    const pressed = await slack.press(
      {
        actionId: 'slipway:rollback',
        value: JSON.stringify({ deployment: id, service: 'search', env: 'prod' }),
        text: 'Roll back',
      },
      alice,
    );
    const final = await slack.waitFor(pressed.responseId, (m) => /deployed/.test(m.text ?? ''));
    expect(final.text).toMatch(/^:white_check_mark: search prod ← img-2 \(1\.4\.0\): deployed/);
    expect(slack.messages(pressed.responseId)[0]!.text).toMatch(
      new RegExp(`^:rewind: alice is rolling back ${id}: the release it replaced, again…`),
    );
    const undo = fake.calls.filter((c) => c.call === 'undo').at(-1)!;
    expect({ who: undo.actor.subject, args: undo.args }).toEqual({
      who: 'alice',
      args: [
        'search',
        'prod',
        `roll back ${id} from Slack by alice`,
        { confirm: 'search prod img-13@aaaaaaaaaaaa→img-2@aaaaaaaaaaaa', deployment: id },
      ],
    });
    expect(fake.calls.some((c) => c.call === 'control' && c.args[1] === id)).toBe(false);
  });

  it('says there is nothing to roll back of a deployment that rolled back already', async () => {
    const { id } = fake.start({ subject: 'ci', role: 'deployer' }, 'search', 'prod', 'img-18', 'nightly');
    fake.deployments.get(id)!.state = 'rolled-back';
    const before = fake.calls.length;
    const pressed = await slack.press(
      { actionId: 'slipway:rollback', value: JSON.stringify({ deployment: id }), text: 'Roll back' },
      alice,
    );
    const said = await slack.waitFor(pressed.responseId, () => true);
    expect(said.text).toBe(`:information_source: ${id} has finished (rolled-back): nothing of it to roll back`);
    expect(fake.calls.length).toBe(before);
  });

  it('undoes the deployment an Undo button names, while it serves', async () => {
    fake.serving.set('search prod', 'dep-serving001');
    try {
      const pressed = await slack.press(
        {
          actionId: 'slipway:undo',
          value: JSON.stringify({ deployment: 'dep-serving001', service: 'search', env: 'prod' }),
        },
        alice,
      );
      await slack.waitFor(pressed.responseId, (m) => /deployed/.test(m.text ?? ''));
      expect(fake.calls.filter((c) => c.call === 'undo').at(-1)!.args).toEqual([
        'search',
        'prod',
        'undo from Slack by alice',
        { confirm: 'search prod img-13@aaaaaaaaaaaa→img-2@aaaaaaaaaaaa', deployment: 'dep-serving001' },
      ]);
    } finally {
      fake.serving.clear();
    }
  });

  it('refuses in words an Undo button of a deployment that no longer serves, and undoes nothing', async () => {
    fake.serving.set('search prod', 'dep-newer00001');
    try {
      const before = fake.calls.filter((c) => c.call === 'undo').length;
      const pressed = await slack.press(
        {
          actionId: 'slipway:undo',
          value: JSON.stringify({ deployment: 'dep-older00001', service: 'search', env: 'prod' }),
        },
        alice,
      );
      const said = await slack.waitFor(pressed.responseId, () => true);
      expect(said.text).toBe(':warning: dep-older00001 no longer serves search prod: dep-newer00001 does now (img-13)');
      expect(fake.calls.filter((c) => c.call === 'undo')).toHaveLength(before);
    } finally {
      fake.serving.clear();
    }
  });

  it('reverts a commit from the Revert button on a failed build', async () => {
    const commit = 'c'.repeat(40);
    const pressed = await slack.press(
      { actionId: 'slipway:revert', value: JSON.stringify({ service: 'search', env: 'prod', commit }) },
      alice,
    );
    await slack.waitFor(pressed.responseId, (m) => /deployed/.test(m.text ?? ''));
    expect(fake.calls.find((c) => c.call === 'revertCommit')!.args).toEqual([
      'search',
      'prod',
      commit,
      'revert cccccccccccc from Slack by alice',
      { confirm: 'search prod img-13@aaaaaaaaaaaa→img-1@aaaaaaaaaaaa' },
    ]);
  });

  it('refuses a press with a wrong signature', async () => {
    const pressed = await slack.press({ actionId: 'slipway:pause', value: '{}' }, alice, { signingSecret: 'nope' });
    expect(pressed.status).toBe(401);
  });
});

describe('a read slower than Slack waits', () => {
  it('is acknowledged at once and answered through response_url', async () => {
    const slow = fakeSlipway({ slowStatusMs: 300 });
    const chat = await startChat(slow, 50);
    const other = await SlackStandIn.start({
      signingSecret: SECRET,
      chatUrl: `http://127.0.0.1:${(chat.address() as AddressInfo).port}`,
    });
    try {
      const answer = await other.command('status', bob);
      expect(answer.body.text).toBe(':hourglass_flowing_sand: asking Slipway: status');
      const later = await other.waitFor(answer.responseId, () => true);
      expect(later.text).toBe('*search prod* search-prod-v003 img-3 (1.3.0) — 2/2 healthy');
    } finally {
      await other.close();
      chat.closeAllConnections();
      await new Promise((resolve) => chat.close(resolve));
    }
  });
});

describe('status with many clusters', () => {
  it("says how many clusters it left out, and how to see one service's", async () => {
    const chat = await startChat(fakeSlipway({ clusterTotal: 4000 }));
    const other = await SlackStandIn.start({
      signingSecret: SECRET,
      chatUrl: `http://127.0.0.1:${(chat.address() as AddressInfo).port}`,
    });
    try {
      const answer = await other.command('status', bob);
      expect(answer.body.text).toBe(
        "*search prod* search-prod-v003 img-3 (1.3.0) — 2/2 healthy\n_1 of 4000 clusters, those needing attention first: `/slipway status SERVICE` for one service's_",
      );
    } finally {
      await other.close();
      chat.closeAllConnections();
      await new Promise((resolve) => chat.close(resolve));
    }
  });

  // 40 clusters of 40 services were 40 reads of baking's whole list of each one's images, to
  // label one image each: the clusters say their versions (issue 28).
  it('labels each image with the version the clusters say, asking baking nothing', async () => {
    const said = fakeSlipway({ clusterTotal: 4000, versionSaid: true });
    const chat = await startChat(said);
    const other = await SlackStandIn.start({
      signingSecret: SECRET,
      chatUrl: `http://127.0.0.1:${(chat.address() as AddressInfo).port}`,
    });
    try {
      const answer = await other.command('status', bob);
      expect(answer.body.text).toMatch(/^\*search prod\* search-prod-v003 img-3 \(1\.3\.0\) — 2\/2 healthy\n/);
      expect(said.calls.map((c) => c.call)).toEqual(['clusters']);
    } finally {
      await other.close();
      chat.closeAllConnections();
      await new Promise((resolve) => chat.close(resolve));
    }
  });
});
