import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually } from '@slipway/test-utils';
import { deploymentEnds, startSearchPlatform, type SearchPlatform } from './fixtures/search-platform.js';

// The dashboard in a real browser (Debian's chromium), while deployments run through the API.
let search: SearchPlatform;
let browser: Browser;
let page: Page;
const shots = 'test/artifacts';

beforeAll(async () => {
  search = await startSearchPlatform();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await mkdir(shots, { recursive: true });
}, 240_000);

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
    await page.locator('#actions [data-state="rolled-back"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('#actions .reason').textContent()).toContain('failed its health check');
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
    expect((await page.goto(`${search.platform.urls.dashboard}/deployments/dep-nope`))?.status()).toBe(404);
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
    await page.screenshot({ path: `${shots}/dashboard-chart.png`, fullPage: true });
  }, 60_000);
});
