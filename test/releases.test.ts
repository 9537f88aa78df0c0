import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { SlackStandIn } from '@slipway/chat';
import { eventually } from '@slipway/test-utils';
import { cli, plain } from './e2e/slipway.js';
import { launchChromium, screenshotsFit, SHOTS } from './fixtures/browser.js';
import { startReleasePlatform, type ReleasePlatform } from './fixtures/release-platform.js';
import { deploymentEnds } from './fixtures/search-platform.js';

// Releases on the local cloud: search's three prod clusters (the sync set `live`) and suggest, which
// depends on it; Slack's stand-in receives search's notifications and presses their buttons.
let p: ReleasePlatform;
let slack: SlackStandIn;
let run: ReturnType<typeof cli>;
const quick = { strategy: { burnInSeconds: 1, drainSeconds: 1 } };
const SLACK_USER = { id: 'U0RELEASE', name: 'rita' };

type Cluster = { service: string; env: string; state: string; deployment?: string; region?: string; after: string[] };
type Release = {
  id: string;
  state: string;
  reason?: string;
  notBefore?: string;
  waves: { index: number; clusters: (Cluster & { reason?: string })[] }[];
  by: string;
  params?: Record<string, unknown>;
  items: { image: string; env: string; clusters: string[]; leftOut: string[]; promotedFrom?: { env: string } }[];
};
type Deployment = { createdAt: string; finishedAt?: string; state: string; releaseId?: string };
type Sync = {
  inSync: boolean;
  items: {
    service: string;
    set: string;
    inSync: boolean;
    differs: string[];
    clusters: { env: string; image: string | null; odd: boolean }[];
  }[];
};

beforeAll(async () => {
  p = await startReleasePlatform({ SLIPWAY_SYNC_ALERT_S: '1' });
  const home = p.search.home;
  run = cli({ SLIPWAY_HOME: home, SLIPWAY_URL: `http://127.0.0.1:${p.search.portBase}`, XDG_CONFIG_HOME: home });
  // A Slack workspace of one deployer, as a team would map it (the chat service reads the file again).
  const users = JSON.parse(await readFile(join(home, 'chat-users.json'), 'utf8')) as Record<string, unknown>;
  users[SLACK_USER.id] = { subject: 'rita', role: 'deployer' };
  await writeFile(join(home, 'chat-users.json'), JSON.stringify(users));
  slack = await SlackStandIn.start({
    signingSecret: (await readFile(join(home, 'slack-signing-secret'), 'utf8')).trim(),
    chatUrl: p.search.platform.urls.chat!,
  });
  await p.setProperty('search', 'slack', slack.webhookUrl);
}, 300_000);

afterAll(async () => {
  await slack?.close();
  await p?.stop();
});

async function release(body: Record<string, unknown>) {
  return p.search.api<{ id: string; detail?: string; errors?: { path: string; message: string }[] }>(
    'orchestrator',
    '/releases',
    { method: 'POST', body: { message: 'a release', env: 'live', bakeSeconds: 1, params: quick, ...body } },
  );
}

const releaseEnds = (id: string) =>
  eventually(
    async () => (await p.search.api<Release>('orchestrator', `/releases/${id}`)).body,
    (r) => ['succeeded', 'failed', 'cancelled', 'skipped'].includes(r.state),
    `release ${id} to end`,
    240_000,
  );

const deployment = async (id: string) => (await p.search.api<Deployment>('orchestrator', `/deployments/${id}`)).body;
const cluster = (r: Release, service: string, env: string) =>
  r.waves.flatMap((w) => w.clusters).find((c) => c.service === service && c.env === env)!;
const sync = async () => (await p.search.api<Sync>('orchestrator', '/sync')).body;
const searchProd = (s: Sync) => s.items.find((i) => i.service === 'search' && i.set === 'live')!;
/** The Slack notification of a deployment, as the stand-in's webhook received it. */
type Button = { action_id: string; value: string };
const notificationOf = (deployment: string, verb: RegExp) =>
  slack.waitFor('webhook', (m) => verb.test(m.text ?? '') && (m.text ?? '').includes(`[${deployment}]`));
const buttonOf = (message: Record<string, unknown>, actionId: string) =>
  ((message.blocks ?? []) as { elements?: Button[] }[])
    .flatMap((b) => b.elements ?? [])
    .find((e) => e.action_id === actionId)!;
let replacedOnProdA = '';
const version = async (offset: number) =>
  ((await (await fetch(`http://127.0.0.1:${p.search.portBase + offset}/`)).json()) as { version: string }).version;
const alerts = (kind: string) => p.received.filter((m) => m.kind === kind && m.sync?.service === 'search');

/** Every deployment of `later` was created only after every one of `earlier` had finished. */
async function startedAfter(earlier: Cluster[], later: Cluster[]) {
  const finished = Math.max(
    ...(await Promise.all(earlier.map(async (c) => Date.parse((await deployment(c.deployment!)).finishedAt!)))),
  );
  for (const c of later)
    expect(Date.parse((await deployment(c.deployment!)).createdAt)).toBeGreaterThanOrEqual(finished);
}

describe('POST /releases', () => {
  it('brings a sync set a single-cluster deploy left out of sync back in line, in waves, alerting once', async () => {
    const single = await p.search.api<{ id: string }>('orchestrator', '/deployments', {
      method: 'POST',
      body: { service: 'search', env: 'prod-a', image: p.search.images.v1, message: 'one cluster only', params: quick },
    });
    expect(single.body).toMatchObject({ id: expect.any(String) });
    expect((await deploymentEnds(p.search, single.body.id)).state).toBe('succeeded');
    const before = searchProd(await sync());
    expect(before.inSync).toBe(false);
    expect(before.clusters.filter((c) => c.odd).map((c) => c.env)).toEqual(['prod-b', 'prod-c']);
    expect(before.differs).toContain('prod-b runs nothing yet');
    await eventually(
      async () => alerts('out-of-sync'),
      (a) => a.length > 0,
      'the out-of-sync alert',
    );

    const started = await release({ items: [{ service: 'search', image: p.search.images.v1 }] });
    expect(started.body).toMatchObject({ id: expect.any(String) });
    const done = await releaseEnds(started.body.id);
    expect(done.state).toBe('succeeded');
    expect(done.waves.map((w) => w.clusters.map((c) => c.env))).toEqual([['prod-a'], ['prod-b', 'prod-c']]);
    expect(cluster(done, 'search', 'prod-a').region).toBe('local-east');
    // prod-a runs this image and config already (the deploy above): left as it is, not deployed again.
    expect(cluster(done, 'search', 'prod-a')).toMatchObject({
      state: 'skipped',
      reason: expect.stringMatching(/^already runs img-\w+ \(1\.0\.0\) with config [0-9a-f]{12}$/),
    });
    expect(cluster(done, 'search', 'prod-a').deployment).toBeUndefined();
    expect((await deployment(cluster(done, 'search', 'prod-c').deployment!)).releaseId).toBe(done.id);
    expect(await version(83)).toBe('1.0.0');

    expect(searchProd(await sync()).inSync).toBe(true);
    await eventually(
      async () => alerts('in-sync'),
      (a) => a.length > 0,
      'the back-in-sync notice',
    );
    expect(alerts('out-of-sync')).toHaveLength(1);

    const events = await (
      await fetch(`${p.search.platform.urls.orchestrator}/releases/${done.id}/events`, {
        headers: { Authorization: `Bearer ${p.search.platform.adminToken}` },
      })
    ).text();
    expect(events.match(/event: wave-started/g)).toHaveLength(2);
    expect(events).toContain('event: finished');

    // The same again changes nothing: refused as a deploy of what serves is, each cluster said.
    const again = await release({ items: [{ service: 'search', image: p.search.images.v1 }] });
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(
      /^nothing to release: search prod-a already runs img-\w+ \(1\.0\.0\) with config \w{12}; search prod-b already runs .*; ask with force/,
    );
  }, 240_000);

  it('deploys each service only after what it depends on, wave by wave', async () => {
    const started = await release({
      items: [
        { service: 'suggest', image: p.suggestV1 },
        { service: 'search', image: p.search.images.v2 },
      ],
    });
    expect(started.body).toMatchObject({ id: expect.any(String) });
    const done = await releaseEnds(started.body.id);
    expect(done.state).toBe('succeeded');
    expect(cluster(done, 'suggest', 'prod-a').after).toEqual(['search']);
    replacedOnProdA = cluster(done, 'search', 'prod-a').deployment!;
    const [first, second] = done.waves as [Release['waves'][number], Release['waves'][number]];
    const of = (wave: typeof first, service: string) => wave.clusters.filter((c) => c.service === service);
    await startedAfter(of(first, 'search'), of(first, 'suggest'));
    await startedAfter(first.clusters, second.clusters);
    await startedAfter(of(second, 'search'), of(second, 'suggest'));
    expect(await version(85)).toBe('1.0.0');
    expect(await version(84)).toBe('2.0.0');
  }, 240_000);

  it('refuses a dependency cycle with 422 naming it, and names every problem at once', async () => {
    await p.setProperty('search', 'dependsOn', ['suggest']);
    const cycle = await release({
      items: [
        { service: 'search', image: p.search.images.v1 },
        { service: 'suggest', image: p.suggestV1 },
      ],
    });
    await p.setProperty('search', 'dependsOn', []);
    expect(cycle.status).toBe(422);
    expect(cycle.body.detail).toContain('search → suggest → search');

    const bad = await release({
      items: [
        { service: 'nosuch', image: p.search.images.v1 },
        { service: 'search', image: p.suggestV1, envs: ['prod-a', 'prod-z'] },
      ],
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors?.map((e) => e.message)).toEqual(
      expect.arrayContaining([
        'service nosuch is not registered',
        expect.stringContaining('prod-z is not a cluster of search live'),
        expect.stringContaining('is not an image of search'),
      ]),
    );
  }, 240_000);

  it('promotes forward only: skipped saying why when it would downgrade, at once rather than after its wait; a downgrade only when allowed, and said', async () => {
    const staging = await p.search.api<{ id: string }>('orchestrator', '/deployments', {
      method: 'POST',
      body: { service: 'search', env: 'staging', image: p.search.images.v1, message: 'to staging', params: quick },
    });
    expect((await deploymentEnds(p.search, staging.body.id)).state).toBe('succeeded');
    // Scheduled for later, then another promotion to the same clusters now: one pending per target.
    const scheduled = await run.slipway([
      'promote',
      'search',
      'staging',
      'live',
      '--after',
      '1h',
      '--no-wait',
      '-m',
      'later',
    ]);
    expect(scheduled.code).toBe(0);
    const later = scheduled.stdout.trim();
    // Every prod cluster runs 2.0.0: staging's 1.0.0 would go back. It changes nothing now, so it
    // ends skipped at once, saying why, rather than waiting its hour to be skipped then.
    const answered = await releaseEnds(later);
    expect(answered.state).toBe('skipped');
    expect(answered.reason).toMatch(/^nothing to change: search prod-a runs img-\w+ \(2\.0\.0\), newer: /);
    expect(answered.notBefore).toBeUndefined();
    const now = await run.slipway(['promote', 'search', 'staging', 'live', '-m', 'now']);
    expect(now.code).toBe(0);
    for (const env of ['prod-a', 'prod-b', 'prod-c'])
      expect(now.stdout).toMatch(
        new RegExp(`search ${env} skipped runs img-\\w+ \\(2\\.0\\.0\\), newer: a promotion only moves forward`),
      );
    expect(now.stdout).toMatch(/rel-\w+ skipped: nothing to change: /);
    expect([await version(82), await version(83), await version(84)]).toEqual(['2.0.0', '2.0.0', '2.0.0']);

    // Allowed explicitly, the promotion goes back, and says so: in its events and the notifications.
    const started = await release({ items: [{ service: 'search', from: 'staging' }], allowDowngrade: true });
    expect(started.body).toMatchObject({ id: expect.any(String) });
    const done = await releaseEnds(started.body.id);
    expect(done.state).toBe('succeeded');
    expect(done.items[0]).toMatchObject({ image: p.search.images.v1, promotedFrom: { env: 'staging' } });
    const after = searchProd(await sync());
    expect(after.inSync).toBe(true);
    expect(after.clusters.map((c) => c.image)).toEqual([p.search.images.v1, p.search.images.v1, p.search.images.v1]);
    const prodA = cluster(done, 'search', 'prod-a').deployment!;
    expect((await notificationOf(prodA, /deploying/)).text).toMatch(/\(a downgrade from 2\.0\.0\)/);
  }, 240_000);

  it("refuses an old Undo button's press in words once its deployment no longer serves, and undoes nothing", async () => {
    // prod-a's 2.0.0 was replaced by the promotion since: its notification's Undo names it.
    const message = await notificationOf(replacedOnProdA, /deployed/);
    const pressed = await slack.press({ ...buttonOf(message, 'slipway:undo'), actionId: 'slipway:undo' }, SLACK_USER);
    expect(pressed.status).toBe(200);
    const said = await slack.waitFor(pressed.responseId, () => true);
    expect(said.text).toMatch(
      new RegExp(
        `^:warning: ${replacedOnProdA} no longer serves search prod-a: dep-\\w+ does now \\(${p.search.images.v1}\\)`,
      ),
    );
    const [newest] = (
      await p.search.api<{ items: { undoOf?: string }[] }>(
        'orchestrator',
        '/deployments?service=search&env=prod-a&limit=1',
      )
    ).body.items;
    expect(newest!.undoOf).toBeUndefined();
  }, 60_000);

  it('asks from Slack before changing production, shows what it changes, and refuses a confirmation gone stale', async () => {
    await p.setProperty('search', 'policy', { live: { production: true } });
    try {
      const asked = await slack.command('undo search prod-a -m "back to 2.0.0"', SLACK_USER);
      expect(asked.body.text).toMatch(
        /^:raised_hand: search prod-a is production: nothing is changed until you confirm\./,
      );
      expect(asked.body.text).toContain(
        `*search prod-a*: ${p.search.images.v1} (1.0.0) → ${p.search.images.v2} (2.0.0), config unchanged`,
      );
      const before = (
        await p.search.api<{ items: unknown[] }>('orchestrator', '/deployments?service=search&env=prod-a')
      ).body.items.length;
      const confirm = buttonOf(asked.body, 'slipway:confirm');
      const pressed = await slack.press({ actionId: 'slipway:confirm', value: confirm.value }, SLACK_USER);
      const final = await slack.waitFor(
        pressed.responseId,
        (m) => /deployed|failed|rolled back/.test(m.text ?? ''),
        60_000,
      );
      expect(final.text).toMatch(/^:white_check_mark: search prod-a ← img-\w+ \(2\.0\.0/);
      expect(await version(82)).toBe('2.0.0');
      const after = (await p.search.api<{ items: unknown[] }>('orchestrator', '/deployments?service=search&env=prod-a'))
        .body.items.length;
      expect(after).toBe(before + 1);
      // The same Confirm again names a from → to that is not prod-a's any more: refused, nothing done.
      const again = await slack.press({ actionId: 'slipway:confirm', value: confirm.value }, SLACK_USER);
      expect((await slack.waitFor(again.responseId, (m) => /:warning:/.test(m.text ?? ''))).text).toMatch(
        /^:warning: the confirmation names another change than this one would make now/,
      );
    } finally {
      await p.search.api('metadata', '/services/search/metadata/policy', { method: 'DELETE' });
    }
  }, 90_000);

  it('stops at a failure in wave 2: wave 3 never starts, wave 1 keeps the new image', async () => {
    await p.setProperty('search', 'waves', [['prod-a'], ['prod-b'], ['prod-c']]);
    // prod-b's instances are checked on a port nothing listens on: they never become healthy.
    await p.changeParams('search', 'prod-b', (params) => {
      (params.healthCheck as Record<string, unknown>).port = 1;
    });
    const started = await release({
      items: [{ service: 'search', image: p.search.images.v2 }],
      params: { strategy: { burnInSeconds: 1, drainSeconds: 1, healthTimeoutSeconds: 8 } },
    });
    expect(started.body).toMatchObject({ id: expect.any(String) });
    const done = await releaseEnds(started.body.id);
    expect(done.state).toBe('failed');
    expect(done.reason).toMatch(/^search prod-b: /);
    // prod-a runs 2.0.0 with this config already (the undo from Slack): skipped.
    expect(done.waves.map((w) => w.clusters.map((c) => [c.env, c.state]))).toEqual([
      [['prod-a', 'skipped']],
      [['prod-b', 'failed']],
      [['prod-c', 'not-started']],
    ]);
    expect(cluster(done, 'search', 'prod-c').deployment).toBeUndefined();
    expect(await version(82)).toBe('2.0.0');
    expect(await version(83)).toBe('1.0.0');
    expect(await version(84)).toBe('1.0.0');
    expect(searchProd(await sync()).inSync).toBe(false);

    // The dashboard groups the sync set and marks the odd one out; the release page shows its waves.
    // The dashboard shows nothing before a sign-in (a reader token is enough).
    const signIn = await fetch(`${p.search.platform.urls.dashboard}/signin`, {
      method: 'POST',
      body: new URLSearchParams({ token: p.search.platform.readerToken, next: '/' }),
      redirect: 'manual',
    });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    const signedIn = (url: string) => fetch(url, { headers: { cookie } });
    const home = await (await signedIn(`${p.search.platform.urls.dashboard}/`)).text();
    expect(home).toMatch(/data-cluster="search-prod-a"\s+data-odd="true"/);
    expect(home).toMatch(/data-cluster="search-prod-b"\s+data-odd="false"/);
    const page = await (await signedIn(`${p.search.platform.urls.dashboard}/releases/${done.id}`)).text();
    const cells = page.match(/data-cluster="search-prod-[abc]"\s+data-state="[a-z-]+"/g) ?? [];
    expect(cells.map((cell) => cell.replace(/\s+/g, ' '))).toEqual([
      'data-cluster="search-prod-a" data-state="skipped"',
      'data-cluster="search-prod-b" data-state="failed"',
      'data-cluster="search-prod-c" data-state="not-started"',
    ]);
  }, 240_000);
});

describe('slipway deploy on a logical environment, followed on the dashboard', () => {
  let browser: Browser;
  let page: Page;
  let released = '';

  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await mkdir(SHOTS, { recursive: true });
    await page.goto(p.search.platform.urls.dashboard!);
    await page.fill('input[name=token]', p.search.platform.readerToken);
    await page.click('form[action="/signin"] button');
    await page.locator('#active').waitFor();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('without a terminal, a production change is a usage error naming --yes, after the preview warns of a version that failed there', async () => {
    await p.setProperty('search', 'policy', { 'prod-b': { production: true } });
    try {
      const refused = await run.slipway(['deploy', 'search', 'prod-b', '2.0.0', '-m', 'again']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        new RegExp(`! ${p.search.images.v2} \\(2\\.0\\.0\\) failed in search prod-b before: dep-\\w+ failed at `),
      );
      expect(refused.stderr).toMatch(
        /slipway: search prod-b is production: deploy img-\w+ \(1\.0\.0\) → img-\w+ \(2\.0\.0\): nothing is asked without a terminal; add --yes to confirm it\n$/,
      );
    } finally {
      await p.search.api('metadata', '/services/search/metadata/policy', { method: 'DELETE' });
    }
  });

  it('without a terminal, a release touching a production cluster is a usage error naming --yes too, and starts nothing (issue 23 item 5)', async () => {
    await p.setProperty('search', 'policy', { 'prod-b': { production: true } });
    try {
      // The sync set prod-b is in: `slipway release` never asked before.
      const released = await run.slipway(['release', '-m', 'unasked', `search@${p.search.images.v2}`, '--env', 'live']);
      expect(released.code).toBe(2);
      expect(released.stderr).toMatch(
        /slipway: search prod-b is production: release .*img-\w+ \(2\.0\.0\).*: nothing is asked without a terminal; add --yes to confirm it\n$/,
      );
      const releases = (await p.search.api<{ items: { message: string }[] }>('orchestrator', '/releases')).body.items;
      expect(releases.map((r) => r.message)).not.toContain('unasked');
    } finally {
      await p.search.api('metadata', '/services/search/metadata/policy', { method: 'DELETE' });
    }
  });

  it('on a terminal lists each cluster with what it runs now; the one left out is named in the record with who', async () => {
    const { onTerminal } = run;
    // The line the checkbox's cursor is on, as last drawn.
    const cursorLine = (screen: string) => screen.slice(screen.lastIndexOf('❯')).split('\n')[0]!;
    // prod-b's health check is still broken (the test before): the deployer leaves it out.
    const deployed = await onTerminal(
      ['deploy', 'search', 'live', p.search.images.v2, '-m', 'all but prod-b', '--burn-in', '1', '--no-wait'],
      (raw) => {
        const screen = plain(raw);
        if (!/search live is 3 clusters; release to/.test(screen)) return undefined;
        const at = cursorLine(screen);
        if (/^❯◉ prod-a/.test(at)) return '\u001b[B';
        if (/^❯◉ prod-b/.test(at)) return ' ';
        if (/^❯◯ prod-b/.test(at)) return '\r';
        return undefined;
      },
    );
    const screen = plain(deployed.stdout);
    expect(deployed.code).toBe(0);
    const images = p.search.images;
    expect(screen).toContain(`prod-a (local-east) — now ${images.v2} (2.0.0)`);
    expect(screen).toContain(`prod-b (local-west) — now ${images.v1} (1.0.0)`);
    expect(screen).toContain(`prod-c (local-south) — now ${images.v1} (1.0.0)`);
    // Then what the release changes in each cluster chosen, from the orchestrator: prod-a has it already.
    expect(screen).toMatch(
      new RegExp(`search prod-a \\(local-east\\):\\n.*\\n.*\\n.*\\n {2}skipped: already runs ${images.v2}`),
    );
    expect(screen).toMatch(
      new RegExp(`search prod-c \\(local-south\\):\\n {2}version {2}${images.v1} \\(1\\.0\\.0\\) → ${images.v2}`),
    );
    released = /(rel-[0-9a-z]+)/.exec(screen)?.[1] ?? '';
    const record = (await p.search.api<Release>('orchestrator', `/releases/${released}`)).body;
    expect(record.by).toBe('admin');
    expect(record.params).toEqual({ strategy: { burnInSeconds: 1 } });
    expect(record.items).toEqual([
      expect.objectContaining({ image: images.v2, env: 'live', clusters: ['prod-a', 'prod-c'], leftOut: ['prod-b'] }),
    ]);
    expect(record.waves.map((w) => w.clusters.map((c) => c.env))).toEqual([['prod-a'], ['prod-c']]);
  }, 60_000);

  it('shows the release page move live, wave by wave, to its end; the clusters view marks the one left out', async () => {
    expect(released).toMatch(/^rel-/);
    const dashboard = p.search.platform.urls.dashboard!;
    await page.goto(`${dashboard}/releases/${released}`);
    // A page that reloads loses this.
    await page.evaluate('window.notReloaded = true');
    expect(await page.locator('#release').textContent()).toContain('search: left out prod-b');
    expect(await page.locator('#release [data-cluster="search-prod-b"]').count()).toBe(0);
    const seen: Record<string, string[]> = { 'search-prod-a': [], 'search-prod-c': [] };
    const sample = async () => {
      for (const [cell, states] of Object.entries(seen)) {
        const state = await page.locator(`#release [data-cluster="${cell}"]`).getAttribute('data-state');
        if (state && states.at(-1) !== state) states.push(state);
      }
    };
    await eventually(
      async () => {
        await sample();
        return page.locator('#release h3 .badge').getAttribute('data-state');
      },
      (state) => ['succeeded', 'failed', 'cancelled'].includes(state ?? ''),
      'the release page to show the end',
      120_000,
    );
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    expect(await page.locator('#release h3 .badge').getAttribute('data-state')).toBe('succeeded');
    // The cells were read before the badge: the redraw that ended the release can fall between the two.
    await sample();
    // The page saw wave 2 before it was done, then done (wave 1, which changed nothing, had no bake).
    expect(['pending', 'deploying']).toContain(seen['search-prod-c']![0]);
    expect(seen['search-prod-c']!.at(-1)).toBe('succeeded');
    expect(seen['search-prod-a']!.at(-1)).toBe('skipped');
    // Only the clusters released run the new version; the one left out keeps its own.
    expect([await version(82), await version(83), await version(84)]).toEqual(['2.0.0', '1.0.0', '2.0.0']);

    await page.goto(dashboard);
    const cells = await page.locator('#sync [data-sync="search-live"] [data-cluster]').all();
    const odd = await Promise.all(
      cells.map(async (c) => `${await c.getAttribute('data-cluster')} ${await c.getAttribute('data-odd')}`),
    );
    expect(odd).toEqual(['search-prod-a false', 'search-prod-b true', 'search-prod-c false']);
    expect(await page.locator('#sync [data-cluster="search-prod-b"]').textContent()).toContain('odd one out');
    expect(
      await screenshotsFit(page, dashboard, { release: `/releases/${released}`, home: '/' }, 'dashboard-release'),
    ).toEqual({});
  }, 150_000);

  it('follows a release again by its id: slipway watch rel-… (issue 23 item 6)', async () => {
    const { slipway } = cli({ SLIPWAY_HOME: p.search.home, SLIPWAY_URL: `http://127.0.0.1:${p.search.portBase}` });
    const watched = await slipway(['watch', released]);
    expect(watched).toMatchObject({ code: 0, stderr: '' });
    expect(watched.stdout).toMatch(/ wave 1: search prod-a\n[\s\S]* ✓ search prod-c succeeded/);
    expect(watched.stdout).toMatch(new RegExp(`\\n${released} succeeded\\n$`));
  }, 30_000);
});
