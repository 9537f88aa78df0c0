import { Router, type Request, type Response } from 'express';
import { apply as applyMergePatch } from 'json-merge-patch';
import { InputError, NotFoundError, PreconditionFailedError, assertMetadataKey, principalOf } from '@slipway/core';
import type { Metadata, ServiceRecord, ServiceStore, WriteOptions } from './store.js';

export interface RouterOptions {
  store: ServiceStore;
}

const RESERVED_QUERY = new Set(['q', 'limit', 'cursor']);

export function createRouter({ store }: RouterOptions): Router {
  const router = Router();

  router.get('/services', async (req, res) => {
    const filters: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.query)) {
      if (RESERVED_QUERY.has(key)) continue;
      assertMetadataKey(key);
      if (typeof value !== 'string') throw new InputError(`filter ${key} must be given once, as a plain value`);
      filters[key] = value;
    }
    const page = await store.list({
      filters,
      q: typeof req.query.q === 'string' && req.query.q !== '' ? req.query.q : undefined,
      limit: Number(req.query.limit ?? 100),
      cursor: typeof req.query.cursor === 'string' && req.query.cursor !== '' ? req.query.cursor : undefined,
    });
    res.json(page);
  });

  router.get('/services/:name', async (req, res) => {
    sendRecord(res, 200, await mustGet(store, req.params.name!));
  });

  router.put('/services/:name', async (req, res) => {
    const { record, created } = await store.write(req.params.name!, () => req.body as Metadata, writeOptions(req));
    sendRecord(res, created ? 201 : 200, record);
  });

  router.patch('/services/:name', async (req, res) => {
    const patch = req.body as Metadata;
    const { record, created } = await store.write(
      req.params.name!,
      (current) => applyMergePatch(current ?? {}, patch) as Metadata,
      writeOptions(req),
    );
    sendRecord(res, created ? 201 : 200, record);
  });

  router.delete('/services/:name', async (req, res) => {
    if (!(await store.delete(req.params.name!, writeOptions(req)))) {
      throw new NotFoundError(`no service named ${req.params.name}`);
    }
    res.status(204).end();
  });

  router.get('/services/:name/metadata/:key', async (req, res) => {
    const { name, key } = req.params as { name: string; key: string };
    const record = await mustGet(store, name);
    if (!Object.hasOwn(record.metadata, key)) {
      throw new NotFoundError(`service ${name} has no metadata property '${key}'`);
    }
    res.setHeader('ETag', etag(record.revision));
    // JSON.stringify, not res.json: the bare value, including a bare string or null.
    res.type('application/json').send(JSON.stringify(record.metadata[key]));
  });

  router.put('/services/:name/metadata/:key', async (req, res) => {
    const { name, key } = req.params as { name: string; key: string };
    const value: unknown = req.body;
    const { record } = await store.write(name, (current) => ({ ...current, [key]: value }), {
      ...writeOptions(req),
      mustExist: true,
    });
    sendRecord(res, 200, record);
  });

  router.delete('/services/:name/metadata/:key', async (req, res) => {
    const { name, key } = req.params as { name: string; key: string };
    await store.write(
      name,
      (current) => {
        if (!current || !Object.hasOwn(current, key)) {
          throw new NotFoundError(`service ${name} has no metadata property '${key}'`);
        }
        const { [key]: _removed, ...rest } = current;
        return rest;
      },
      { ...writeOptions(req), mustExist: true },
    );
    res.status(204).end();
  });

  router.get('/services/:name/history', async (req, res) => {
    const name = req.params.name!;
    const items = await store.history(name, Number(req.query.limit ?? 100));
    if (items.length === 0 && !(await store.get(name))) throw new NotFoundError(`no service named ${name}`);
    res.json({ items });
  });

  return router;
}

async function mustGet(store: ServiceStore, name: string): Promise<ServiceRecord> {
  const record = await store.get(name);
  if (!record) throw new NotFoundError(`no service named ${name}`);
  return record;
}

function sendRecord(res: Response, status: number, record: ServiceRecord): void {
  res.status(status).setHeader('ETag', etag(record.revision));
  res.json(record);
}

function etag(revision: number): string {
  return `"${revision}"`;
}

function writeOptions(req: Request): WriteOptions {
  const options: WriteOptions = { by: principalOf(req).subject };
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && ifMatch.trim() !== '*') options.ifMatch = parseIfMatch(ifMatch);
  return options;
}

/** `"3"` or `W/"3"` → 3. Anything else cannot match a revision: 412, as RFC 9110 says. */
function parseIfMatch(header: string): number {
  const match = /^\s*(?:W\/)?"(\d{1,15})"\s*$/.exec(header);
  if (!match)
    throw new PreconditionFailedError(`If-Match ${JSON.stringify(header)} matches no revision; send "<revision>"`);
  return Number(match[1]);
}
