/**
 * The dashboard: read-only pages over the services' APIs, live through server-sent events.
 * It sends no writes, and the reader token it holds never reaches the browser.
 */
import express, { type Express, type Response } from 'express';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@slipway/core';
import type { Data } from './data.js';
import type { Html } from './html.js';
import { deploymentPage, deploymentSections, homePage, homeSections, layout, servicePage } from './pages.js';
import { multiReleasesSection, releaseSections, syncSection, type ReleaseData } from './release-pages.js';

export interface AppDeps {
  data: Data;
  /** Releases and sync sets; without it the home page shows neither. */
  releases?: ReleaseData;
  logger: Logger;
  /** How often live sections are read again. */
  refreshMs?: number;
}

// chart.js exports no path to its browser build: find it beside the package's CommonJS entry.
const chartJs = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js');
const assets = fileURLToPath(new URL('../assets/', import.meta.url));

export function createApp({ data, releases, logger, refreshMs = 500 }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  const page = (res: Response, body: Html | undefined, what: string) => {
    if (!body) res.status(404).type('html').send(`<p>No ${what}.</p>`);
    else res.type('html').send(body.toString());
  };
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // The pnpm store path has a .pnpm segment, which sendFile refuses unless told.
  app.get('/assets/chart.umd.js', (_req, res) => res.sendFile(chartJs, { dotfiles: 'allow' }));
  app.use('/assets', express.static(assets, { fallthrough: false }));
  const releaseHome = async (): Promise<Record<string, Html>> =>
    releases
      ? { 'multi-releases': multiReleasesSection(await releases.releases()), sync: syncSection(await releases.sync()) }
      : {};
  app.get('/', async (_req, res) => page(res, await homePage(data, Object.values(await releaseHome())), 'page'));
  app.get('/releases/:id', async (req, res) => {
    const sections = releases ? await releaseSections(releases, req.params.id) : undefined;
    page(
      res,
      sections && layout(req.params.id, sections.release!, `/live?release=${encodeURIComponent(req.params.id)}`),
      'such release',
    );
  });
  app.get('/deployments/:id', async (req, res) =>
    page(res, await deploymentPage(data, req.params.id), 'such deployment'),
  );
  app.get('/services/:name', async (req, res) => page(res, await servicePage(data, req.params.name), 'such service'));
  app.get('/live', async (req, res) => {
    const id = typeof req.query.deployment === 'string' ? req.query.deployment : undefined;
    const release = typeof req.query.release === 'string' && releases ? req.query.release : undefined;
    res.status(200).setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.flushHeaders();
    const sent = new Map<string, string>();
    let open = true;
    req.on('close', () => (open = false));
    while (open) {
      try {
        const sections = release
          ? await releaseSections(releases!, release)
          : id
            ? await deploymentSections(data, id)
            : { ...(await homeSections(data)), ...(await releaseHome()) };
        for (const [name, body] of Object.entries(sections ?? {})) {
          const text = body.toString();
          if (sent.get(name) === text) continue;
          sent.set(name, text);
          res.write(`event: section\ndata: ${JSON.stringify({ id: name, html: text })}\n\n`);
        }
      } catch (error) {
        logger.warn({ err: error }, 'live refresh failed');
      }
      await new Promise((resolve) => setTimeout(resolve, refreshMs));
    }
    res.end();
  });
  app.use((error: Error, _req: express.Request, res: Response, _next: express.NextFunction) => {
    logger.error({ err: error }, 'page failed');
    res
      .status(502)
      .type('html')
      .send(`<p>A service did not answer: ${String(error.message).replace(/[<>&]/g, '')}</p>`);
  });
  return app;
}
