import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { eventually } from '@slipway/test-utils';
import { launchChromium, screenshotsFit, SHOTS as shots } from './fixtures/browser.js';
import { deploymentEnds, startSearchPlatform, type SearchPlatform } from './fixtures/search-platform.js';

// The dashboard in a real browser (Debian's chromium), while deployments run through the API.
let search: SearchPlatform;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  search = await startSearchPlatform();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await mkdir(shots, { recursive: true });
  await signIn();
}, 240_000);

/** The sign-in page comes first; a refused token says so; a reader token lets the person in. */
async function signIn() {
  await page.goto(search.platform.urls.dashboard!);
  expect(new URL(page.url()).pathname).toBe('/signin');
  await page.fill('input[name=token]', 'not-a-token');
  await page.click('form[action="/signin"] button');
  expect(await page.locator('[role=alert]').textContent()).toContain('refused');
  await page.fill('input[name=token]', search.platform.readerToken);
  await page.click('form[action="/signin"] button');
  await page.locator('#active').waitFor();
}

afterAll(async () => {
  await browser?.close();
  await search?.stop();
});

const deploy = async (image: string, params: object) =>
  (
    await search.api<{ id: string }>('orchestrator', '/deployments', {
      method: 'POST',
      body: { service: 'search', env: 'prod', image, message: `browser ${image}`, params },
    })
  ).body.id;

describe('the dashboard', () => {
  it('shows a deployment live: it appears, its actions advance, the new group turns healthy', async () => {
    await page.goto(search.platform.urls.dashboard!);
    expect(await page.locator('#active').textContent()).toContain('None right now');
    const id = await deploy(search.images.v1, { strategy: { burnInSeconds: 3, drainSeconds: 1 } });
    const active = page.locator(`#active [data-deployment="${id}"]`);
    await active.waitFor({ timeout: 20_000 }); // no reload: the section came over server-sent events
    const seen = new Set<string>();
    await eventually(
      async () => {
        const text = await page
          .locator(`#active [data-deployment="${id}"] [data-progress]`)
          .textContent()
          .catch(() => null);
        if (text) seen.add(text);
        return seen.size;
      },
      (n) => n >= 3,
      'the progress to advance',
    );
    await page.screenshot({ path: `${shots}/dashboard-deploying.png`, fullPage: true });
    await page
      .locator('#clusters [data-group="search-prod-v001"] [data-health="healthy"]')
      .first()
      .waitFor({ timeout: 30_000 });
    await deploymentEnds(search, id);
    await page.locator(`#releases [data-deployment="${id}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator(`#releases [data-deployment="${id}"]`).textContent()).toContain('succeeded');
    await page.screenshot({ path: `${shots}/dashboard-home.png`, fullPage: true });
  }, 90_000);

  it("shows a rolled-back deployment as such on its page, its actions, and the cells' health in words", async () => {
    await deploymentEnds(search, await deploy(search.images.v2, { strategy: { burnInSeconds: 1, drainSeconds: 1 } }));
    const id = await deploy(search.images.v3, { strategy: { burnInSeconds: 15, drainSeconds: 1 } });
    await page.goto(`${search.platform.urls.dashboard}/deployments/${id}`);
    await page.locator('#actions [data-action="burn-in"][data-state="running"]').waitFor({ timeout: 30_000 });
    // During burn-in the old group still takes traffic: it is in service, not merely retained.
    expect(await page.locator('#clusters [data-group="search-prod-v002"]').getAttribute('data-role')).toMatch(
      /in service$/,
    );
    await page.locator('#actions [data-state="rolled-back"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#actions .reason').textContent()).toContain('failed its health check');
    // Its group, kept out of service, is marked in the cluster view: it goes first, and is never gone back to.
    const kept = page.locator('#clusters [data-group="search-prod-v003"][data-served="never"]');
    await kept.waitFor({ timeout: 10_000 });
    expect(await kept.textContent()).toContain('never served successfully (rolled-back)');
    // The rollback is a step of its own; what never ran is skipped, not pending.
    for (const step of ['restore-previous-group', 'wait-for-previous-group-health', 'take-new-group-out'])
      expect(await page.locator(`#actions [data-action="${step}"]`).getAttribute('data-state')).toBe('done');
    expect(await page.locator('#actions [data-action="disable-old-group"]').getAttribute('data-state')).toBe('skipped');
    expect(await page.locator('#actions [data-state="pending"]').count()).toBe(0);
    expect(await page.locator('#actions [data-times]').textContent()).toMatch(/started .* ended .* took\s+\d+ s/);
    // The same config commit as the deployment before: no change, said in words.
    expect(await page.locator('#config-change [data-diff="none"]').textContent()).toBe('No change.');
    expect(await page.locator('#clusters').textContent()).toContain('healthy');
    await page.screenshot({ path: `${shots}/dashboard-deployment.png`, fullPage: true });
    const html = await page.content();
    expect(html).not.toContain(search.platform.readerToken); // the token never reaches the browser
  }, 90_000);

  it("shows a service's page: its metadata, environments, deployments and images", async () => {
    await page.goto(`${search.platform.urls.dashboard}/services/search`);
    expect(await page.locator('main').textContent()).toContain('team-search');
    expect(await page.locator('main').textContent()).toContain('prod, prod-a, prod-b, prod-c, staging');
    expect(await page.locator('#releases').textContent()).toContain('rolled-back');
    expect(await page.locator('main').textContent()).toContain(search.images.v1);
    await page.screenshot({ path: `${shots}/dashboard-service.png`, fullPage: true });
    const missing = await page.goto(`${search.platform.urls.dashboard}/deployments/dep-nope`);
    expect(missing?.status()).toBe(404);
    expect(await page.locator('[data-not-found]').textContent()).toContain('There is no deployment dep-nope');
    expect(await page.locator('header nav a').allTextContents()).toEqual([
      'Overview',
      'Services',
      'Clusters',
      'Deployments',
    ]);
    expect((await page.request.get(`${search.platform.urls.dashboard}/favicon.svg`)).headers()['content-type']).toMatch(
      /image\/svg\+xml/,
    );
    expect((await page.goto(`${search.platform.urls.dashboard}/services/Not_A_Service`))?.status()).toBe(404);
    await page.goto(search.platform.urls.dashboard!);
    // The chart library drew the bars: the canvas is no longer blank.
    // (A string: this project's TypeScript has no DOM types.)
    const drawn = await eventually(
      () =>
        page.evaluate(`(() => {
          const canvas = document.querySelector('canvas#by-week');
          const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          return { chart: typeof window.Chart, drawn: pixels.some((value, i) => i % 4 === 3 && value > 0) };
        })()`) as Promise<{ chart: string; drawn: boolean }>,
      (result) => result.drawn,
      'the chart drawn',
      10_000,
    ).catch((error: Error) => error.message);
    expect(drawn).toEqual({ chart: 'function', drawn: true });
    expect(await page.locator('.charts figcaption').allTextContents()).toEqual([
      'Deployments per week',
      'Deployments per month',
    ]);
    const series = JSON.parse((await page.locator('#chart-data').textContent())!) as {
      week: { datasets: { label: string }[] };
    };
    expect(series.week.datasets.map((d) => d.label)).toEqual(['succeeded', 'rolled-back', 'failed', 'cancelled']);
    expect(await page.locator('#releases thead th').first().textContent()).toBe('Version');
    await page.screenshot({ path: `${shots}/dashboard-chart.png`, fullPage: true });
  }, 60_000);

  it('lists every service with its owner and where it runs, and deployments filtered by service, env and outcome', async () => {
    await page.goto(`${search.platform.urls.dashboard}/services`);
    const row = page.locator('#services [data-service="search"]');
    expect(await row.textContent()).toContain('team-search');
    expect(await row.locator('[data-where="prod"]').textContent()).toMatch(/prod: img-/);
    await page.goto(`${search.platform.urls.dashboard}/deployments`);
    await page.selectOption('select[name=outcome]', 'rolled-back');
    await page.click('form.filters button');
    expect(new URL(page.url()).search).toContain('outcome=rolled-back');
    const outcomes = await page.locator('#deployments tbody .badge').allTextContents();
    expect(outcomes.length).toBeGreaterThan(0);
    expect(new Set(outcomes)).toEqual(new Set(['rolled-back']));
  });

  it('looks right at 1400 and 390 px: a screenshot of each page, and nothing wider than the screen', async () => {
    // Real data (issue 23 item 14): CI's builds of each version, so the commits table is filled.
    for (const [n, version] of ['1.0.0', '2.0.0', '3.0.0'].entries()) {
      const reported = await search.api('baking', '/builds', {
        method: 'POST',
        body: {
          service: 'search',
          commit: `${n + 1}`.repeat(40),
          status: 'passed',
          version,
          url: `https://ci.example.com/search/runs/${n}`,
        },
      });
      expect(reported.status).toBeLessThan(300);
    }
    await page.goto(search.platform.urls.dashboard!);
    expect(await page.locator('#commits tbody tr').count()).toBe(3);
    // At 1400 px the releases card shows every column: nothing in it is scrolled out of sight.
    const clipped = await page.evaluate(
      `(() => { const s = document.querySelector('#releases .scroll'); return s.scrollWidth - s.clientWidth; })()`,
    );
    expect(clipped).toBeLessThanOrEqual(1);
    const rolledBack = (
      await search.api<{ items: { id: string }[] }>('orchestrator', '/deployments?state=rolled-back&limit=1')
    ).body.items[0]!.id;
    const pages = {
      home: '/',
      services: '/services',
      clusters: '/clusters',
      deployments: '/deployments',
      deployment: `/deployments/${rolledBack}`,
      service: '/services/search',
      'not-found': '/nope',
    };
    const found = await screenshotsFit(page, search.platform.urls.dashboard!, pages);
    expect(found).toEqual({});
  }, 60_000);
});
