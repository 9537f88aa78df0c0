import { Router, type Request, type Response } from 'express';
import { assertGitRef, assertRepoPath, principalOf } from '@slipway/core';
import { deploymentParamsSchema } from './files.js';
import type { ConfigSource, Fresh } from './source.js';

export interface RouterOptions {
  source: ConfigSource;
}

type Params = { service: string; env: string };

export function createRouter({ source }: RouterOptions): Router {
  const router = Router();

  router.get('/config/:service', async (req, res) => {
    const service = req.params.service!;
    res.json({ service, environments: await source.environments(service) });
  });

  router.get('/config/:service/:env', async (req, res) => {
    const { service, env } = req.params as Params;
    const answer = await source.snapshot(service, env, ref(req));
    if (notModified(req, res, answer)) return;
    res.type('application/json').send(answer.value);
  });

  router.get('/config/:service/:env/properties', async (req, res) => {
    const { service, env } = req.params as Params;
    const answer = await source.properties(service, env, ref(req));
    if (notModified(req, res, answer)) return;
    res.type('text/plain; charset=utf-8').send(answer.value);
  });

  router.get('/config/:service/:env/commits', async (req, res) => {
    const { service, env } = req.params as Params;
    const path = typeof req.query.path === 'string' ? assertRepoPath(req.query.path) : undefined;
    const answer = await source.commits(service, env, {
      limit: Number(req.query.limit),
      ...(path ? { path } : {}),
      ...(ref(req) ? { ref: ref(req)! } : {}),
    });
    setFreshness(res, answer);
    res.json({ items: answer.value });
  });

  router.get('/config/:service/:env/diff', async (req, res) => {
    const { service, env } = req.params as Params;
    const from = assertGitRef(String(req.query.from), 'from');
    const to = assertGitRef(String(req.query.to), 'to');
    const answer = await source.diff(service, env, from, to);
    setFreshness(res, answer);
    res.json(answer.value);
  });

  router.get('/config/:service/:env/files/*path', async (req, res) => {
    const { service, env } = req.params as Params;
    const segments = (req.params as unknown as { path: string[] }).path;
    const path = assertRepoPath(segments.join('/'));
    const answer = await source.file(service, env, path, ref(req));
    if (notModified(req, res, answer)) return;
    res.type(path.endsWith('.json') ? 'application/json' : 'application/octet-stream').send(answer.value);
  });

  router.get('/schemas/deployment-params', (_req, res) => {
    res.json(deploymentParamsSchema);
  });

  router.post('/refresh', async (req, res) => {
    principalOf(req); // who asked is logged with the request; either way in is fine
    const body = (req.body ?? {}) as { service?: string; env?: string; repository?: { name?: string } };
    // A Git server's push event names the repository: <service>-<env>.
    const pushed = /^([a-z0-9]{1,32})-([a-z0-9]{1,32})$/.exec(body.repository?.name ?? '');
    const target = pushed ? { service: pushed[1]!, env: pushed[2]! } : { service: body.service, env: body.env };
    const items = await source.refresh(
      Object.fromEntries(Object.entries(target).filter(([, v]) => v !== undefined)) as {
        service?: string;
        env?: string;
      },
    );
    res.json({ items });
  });

  return router;
}

function ref(req: Request): string | undefined {
  const value = req.query.ref;
  return typeof value === 'string' && value !== '' ? assertGitRef(value) : undefined;
}

/** Freshness headers on every answer: when the clone was last fetched, and whether it is stale. */
function setFreshness(res: Response, answer: Fresh<unknown>): void {
  if (answer.freshness.fetchedAt) res.setHeader('X-Config-Fetched-At', answer.freshness.fetchedAt);
  if (answer.freshness.staleReason) {
    res.setHeader('Warning', `110 - "stale: ${answer.freshness.staleReason.replace(/["\\\r\n]/g, ' ')}"`);
  }
}

/** ETag is the commit: what was read at a commit never changes. */
function notModified(req: Request, res: Response, answer: Fresh<unknown>): boolean {
  setFreshness(res, answer);
  const etag = `"${answer.commit}"`;
  res.setHeader('ETag', etag);
  if (req.headers['if-none-match'] === etag) {
    res.status(304).end();
    return true;
  }
  return false;
}
