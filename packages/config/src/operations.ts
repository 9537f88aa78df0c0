import type { Request, Response } from 'express';
import { principalOf, queryOf, sendText, typedOperations, typedQuery, type OperationHandlers } from '@slipway/core';
import { assertGitRef, assertRepoPath } from '@slipway/core/git';
import { deploymentParamsSchema, type ConfigOperations as operations } from '@slipway/config-api';
import type { ConfigSource, Fresh } from './source.js';

export interface OperationsOptions {
  source: ConfigSource;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** A handler for each operation of src/schema/openapi.yaml, by operationId, typed from it. */
export function createOperations({ source }: OperationsOptions): OperationHandlers {
  return typedOperations<operations>({
    async listEnvironments(req, res) {
      const service = req.params.service;
      res.json({ service, environments: await source.environments(service) });
    },

    async getConfig(req, res) {
      const { service, env } = req.params;
      // A deploy asks with no-cache: the commit a branch names now, a push of a moment ago included.
      const noCache = /\bno-cache\b/i.test(String(req.headers['cache-control'] ?? ''));
      const answer = await source.snapshot(service, env, ref(req), noCache ? { fetchedSince: Date.now() } : {});
      if (notModified(req, res, answer)) return;
      sendText(res, 200, JSON_TYPE, answer.value);
    },

    async getProperties(req, res) {
      const { service, env } = req.params;
      const answer = await source.properties(service, env, ref(req));
      if (notModified(req, res, answer)) return;
      sendText(res, 200, 'text/plain; charset=utf-8', answer.value);
    },

    async listCommits(req, res) {
      const { service, env } = req.params;
      const query = typedQuery(req);
      const path = typeof query.path === 'string' ? assertRepoPath(query.path) : undefined;
      const answer = await source.commits(service, env, {
        limit: Number(query.limit),
        ...(path ? { path } : {}),
        ...(ref(req) ? { ref: ref(req)! } : {}),
      });
      setFreshness(res, answer);
      res.json({ items: answer.value });
    },

    async diffConfig(req, res) {
      const { service, env } = req.params;
      const query = typedQuery(req);
      const from = assertGitRef(String(query.from), 'from');
      const to = assertGitRef(String(query.to), 'to');
      const answer = await source.diff(service, env, from, to);
      setFreshness(res, answer);
      res.json(answer.value);
    },

    async getFile(req, res) {
      const { service, env, path: given } = req.params;
      const path = assertRepoPath(given);
      const answer = await source.file(service, env, path, ref(req));
      if (notModified(req, res, answer)) return;
      sendText(res, 200, path.endsWith('.json') ? JSON_TYPE : 'application/octet-stream', answer.value);
    },

    getDeploymentParamsSchema(_req, res) {
      res.json(deploymentParamsSchema);
    },

    async refresh(req, res) {
      principalOf(req); // who asked is logged with the request; either way in is fine
      // A push webhook's body is whatever the Git server sends (additionalProperties).
      const body = req.body ?? {};
      // A Git server's push event names the repository: <service>-<env>.
      const pushed = /^([a-z0-9]{1,32})-([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?)$/.exec(body.repository?.name ?? '');
      const { service, env } = pushed ? { service: pushed[1]!, env: pushed[2]! } : body;
      const items = await source.refresh({
        ...(service !== undefined ? { service } : {}),
        ...(env !== undefined ? { env } : {}),
      });
      res.json({ items });
    },
  });
}

function ref(req: Request): string | undefined {
  const value = queryOf(req).ref;
  return typeof value === 'string' && value !== '' ? assertGitRef(value) : undefined;
}

/**
 * Freshness headers on every answer: when the clone was last fetched, and, when the last fetch
 * failed, why and how old the clone is — as X-Config-Stale, the value whole (which a deployment
 * pinned from it records), and as an HTTP Warning for people and caches.
 */
function setFreshness(res: Response, answer: Fresh<unknown>): void {
  const { fetchedAt, staleReason } = answer.freshness;
  if (fetchedAt) res.setHeader('X-Config-Fetched-At', fetchedAt);
  if (staleReason) {
    const age = fetchedAt ? `; last fetched ${describeAge(Date.now() - Date.parse(fetchedAt))} ago` : '';
    const stale = `${staleReason.replace(/["\\\r\n]/g, ' ')}${age}`;
    res.setHeader('X-Config-Stale', stale);
    res.setHeader('Warning', `110 - "stale: ${stale}"`);
  }
}

function describeAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

/** ETag is the commit: what was read at a commit never changes. */
function notModified(req: Request, res: Response, answer: Fresh<unknown>): boolean {
  setFreshness(res, answer);
  const etag = `"${answer.commit}"`;
  res.setHeader('ETag', etag);
  const asked = req.headers['if-none-match'];
  if (asked !== undefined && (asked === etag || listed(asked, etag))) {
    res.status(304).end();
    return true;
  }
  return false;
}

/**
 * If-None-Match as RFC 9110 has it: `*`, or a list compared weakly (`W/"…"` matches). Written
 * here rather than express's req.fresh, which answers 200 to any request saying no-cache: a
 * deploy's read says it, and a commit's answer is the same however fresh the clone.
 */
function listed(header: string, etag: string): boolean {
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}
