/**
 * The dashboard: read-only pages over the services' APIs, live through server-sent events.
 * It sends no writes; a person signs in with a token the services accept before anything is
 * shown, and the reader token the dashboard reads with never reaches the browser.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@slipway/core';
import type { Data } from './data.js';
import type { Html } from './html.js';
import { FAVICON, layout, notFoundPage, signInPage } from './layout.js';
import { createLiveFeeds } from './live.js';
import {
  deploymentFilter,
  deploymentPage,
  clustersPage,
  deploymentSections,
  deploymentsPage,
  homePage,
  homeSections,
  servicePage,
  servicesPage,
} from './pages.js';
import { createSessions, type Sessions } from './session.js';
import { homeSyncSection, multiReleasesSection, releaseSections, syncPage, type ReleaseData } from './release-pages.js';

export interface AppDeps {
  data: Data;
  /** Releases and sync sets; without it the home page shows neither. */
  releases?: ReleaseData;
  logger: Logger;
  /** How often live sections are read again (once for all viewers of a page). */
  refreshMs?: number;
  sessions?: Sessions;
  /** How often a session's token is asked about again (the default sessions'): once removed, the session ends. */
  sessionRecheckMs?: number;
  /** Behind a TLS proxy (SLIPWAY_TRUST_PROXY): its X-Forwarded-Proto says the page is HTTPS, so cookies are Secure. */
  trustProxy?: boolean;
  /** Sign-in attempts one address may make in `signInWindowMs` (a token is not guessed by trying). */
  signInLimit?: number;
  signInWindowMs?: number;
  /** Pages followed live at once (each is one poll of the orchestrator); beyond it /live answers 429. */
  maxLiveFeeds?: number;
}

/**
 * What a page may load and run: its own scripts and styles, nothing inline, no frames, forms
 * only to itself. A link or script a service's answer smuggled in (a build's `url`) runs nothing.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** What /live may follow: the home page, a deployment or a release, by the ids the orchestrator gives. */
const LIVE_DEPLOYMENT = /^dep-[0-9a-z]{6,24}$/;
const LIVE_RELEASE = /^rel-[0-9a-z]{6,24}$/;

// chart.js exports no path to its browser build: find it beside the package's CommonJS entry.
const chartJs = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js');
const assets = fileURLToPath(new URL('../assets/', import.meta.url));

/** Only a path of this site, so a sign-in link cannot send a person elsewhere. */
const localPath = (next: unknown) => (typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/');

export function createApp({
  data,
  releases,
  logger,
  refreshMs = 500,
  sessionRecheckMs = 60_000,
  sessions = createSessions({ accepts: (token) => data.accepts(token), recheckMs: sessionRecheckMs }),
  trustProxy = false,
  signInLimit = 10,
  signInWindowMs = 15 * 60_000,
  maxLiveFeeds = 64,
}: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  if (trustProxy) app.set('trust proxy', 1);
  app.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'same-origin');
    next();
  });
  const page = (res: Response, body: Html | undefined, what: string) => {
    if (!body) res.status(404).type('html').send(notFoundPage(what).toString());
    else res.type('html').send(body.toString());
  };
  const live = createLiveFeeds(
    async (key) =>
      key === 'home'
        ? { ...(await homeSections(data)), ...(await releaseHome()) }
        : key.startsWith('release:')
          ? releaseSections(releases!, key.slice('release:'.length))
          : deploymentSections(data, key),
    refreshMs,
    logger,
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/favicon.svg', (_req, res) => res.type('image/svg+xml').send(FAVICON));
  app.get('/favicon.ico', (_req, res) => res.redirect(301, '/favicon.svg'));
  // The pnpm store path has a .pnpm segment, which sendFile refuses unless told.
  app.get('/assets/chart.umd.js', (_req, res) => res.sendFile(chartJs, { dotfiles: 'allow' }));
  app.use('/assets', express.static(assets, { fallthrough: false }));
  const releaseHome = async (): Promise<Record<string, Html>> => {
    if (!releases) return {};
    const [listed, sets] = await Promise.all([releases.releases(), releases.sync()]);
    return { 'multi-releases': multiReleasesSection(listed), sync: homeSyncSection(sets) };
  };

  app.get('/signin', (req, res) => {
    res.type('html').send(signInPage(localPath(req.query.next), req.query.refused === '1').toString());
  });
  const signInAttempts = rateLimit({
    windowMs: signInWindowMs,
    limit: signInLimit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, res) => {
      logger.warn('sign-in attempts over the limit');
      res.status(429).type('text/plain').send('Too many sign-in attempts from this address: try again later.');
    },
  });
  app.post('/signin', signInAttempts, express.urlencoded({ extended: false, limit: '8kb' }), async (req, res) => {
    const body = (req.body ?? {}) as { token?: unknown; next?: unknown };
    const next = localPath(body.next);
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    if (token && (await data.accepts(token))) {
      sessions.open(res, req.secure, token);
      res.redirect(303, next);
    } else {
      logger.info('a sign-in was refused');
      res.redirect(303, `/signin?refused=1&next=${encodeURIComponent(next)}`);
    }
  });
  app.post('/signout', (req, res) => {
    sessions.close(req, res);
    res.redirect(303, '/signin');
  });
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (await sessions.valid(req)) return next();
    if (req.path === '/live') return void res.status(401).end();
    res.redirect(303, `/signin?next=${encodeURIComponent(req.originalUrl)}`);
  });

  // The releases and sync sets read beside the page's own reads, not before them.
  app.get('/', async (_req, res) =>
    page(
      res,
      await homePage(
        data,
        releaseHome().then((sections) => Object.values(sections)),
      ),
      'page',
    ),
  );
  app.get('/services', async (req, res) =>
    page(res, await servicesPage(data, req.query as Record<string, unknown>), 'page'),
  );
  app.get('/clusters', async (req, res) =>
    page(res, await clustersPage(data, req.query as Record<string, unknown>), 'page'),
  );
  app.get('/sync', async (req, res) =>
    page(res, releases && syncPage(await releases.sync(), req.query as Record<string, unknown>), 'page'),
  );
  app.get('/deployments', async (req, res) =>
    page(res, await deploymentsPage(data, deploymentFilter(req.query as Record<string, unknown>)), 'page'),
  );
  app.get('/releases/:id', async (req, res) => {
    const sections = releases ? await releaseSections(releases, req.params.id) : undefined;
    page(
      res,
      sections && layout(req.params.id, sections.release!, `/live?release=${encodeURIComponent(req.params.id)}`),
      `release ${req.params.id}`,
    );
  });
  app.get('/deployments/:id', async (req, res) =>
    page(res, await deploymentPage(data, req.params.id), `deployment ${req.params.id}`),
  );
  app.get('/services/:name', async (req, res) =>
    page(res, await servicePage(data, req.params.name), `service ${req.params.name}`),
  );
  app.get('/live', (req, res) => {
    const id = typeof req.query.deployment === 'string' ? req.query.deployment : undefined;
    const release = typeof req.query.release === 'string' && releases ? req.query.release : undefined;
    // Each page followed is a poll of the orchestrator: only pages that can exist, and not too many.
    if ((id !== undefined && !LIVE_DEPLOYMENT.test(id)) || (release !== undefined && !LIVE_RELEASE.test(release)))
      return void res.status(400).type('text/plain').send('not a deployment or release id');
    const key = release ? `release:${release}` : (id ?? 'home');
    if (!live.following(key) && live.polls >= maxLiveFeeds) {
      res.setHeader('Retry-After', '10');
      return void res.status(429).type('text/plain').send('too many pages are followed live now: try again shortly');
    }
    res.status(200).setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.flushHeaders();
    const stop = live.watch(key, (name, text) =>
      res.write(`event: section\ndata: ${JSON.stringify({ id: name, html: text })}\n\n`),
    );
    req.on('close', () => {
      stop();
      res.end();
    });
  });
  app.use((req: Request, res: Response) => page(res, undefined, `page ${req.path}`));
  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err: error }, 'page failed');
    res
      .status(502)
      .type('html')
      .send(`<p>A service did not answer: ${String(error.message).replace(/[<>&]/g, '')}</p>`);
  });
  return Object.assign(app, { live });
}
