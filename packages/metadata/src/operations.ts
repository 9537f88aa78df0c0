import { isDeepStrictEqual } from 'node:util';
import type { Request, Response } from 'express';
import {
  InputError,
  NotAllowedError,
  NotFoundError,
  PreconditionFailedError,
  assertMetadataKey,
  principalOf,
  roleAllows,
  typedOperations,
  typedQuery,
  type Logger,
  type OperationHandlers,
} from '@slipway/core';
import { checkKnownProperties, type EnvironmentLister } from './known-properties.js';
import { governedSets, syncSetOf, syncSets, type MetadataOperations as operations } from '@slipway/metadata-api';
import type { Edit, Metadata, ServiceRecord, ServiceStore, WriteOptions } from './store.js';

export interface OperationsOptions {
  store: ServiceStore;
  /** The config service's environments of a service: sync sets may not be named like one. */
  environments?: EnvironmentLister;
  logger?: Logger;
}

const RESERVED_QUERY = new Set(['q', 'limit', 'cursor', 'offset']);

/**
 * The properties that are an environment's rules (environment-policy.ts in @slipway/metadata-api): who may change
 * it, when, with what confirmation. Only an admin adds, replaces or removes them; a deployer's
 * write that leaves them as they are still goes through.
 */
const ADMIN_ONLY_PROPERTIES = ['policy', 'production'] as const;

/** A JSON value remade here: the stored copy may come from another realm (structuredClone under jest). */
const plain = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

/**
 * `change`, refused (403, nothing stored) when it would add, replace or remove a rule property
 * and the caller is not an admin. Checked on the record the write is made on (inside the store's
 * compare-and-set), so an admin's change in between is never undone by a deployer's stale copy.
 */
function guardRules(req: Request, name: string, change: Edit): Edit {
  const { subject, role } = principalOf(req);
  if (roleAllows(role, 'admin')) return change;
  return (current) => {
    const next = change(current);
    const changed: string[] = ADMIN_ONLY_PROPERTIES.filter(
      (key) =>
        Object.hasOwn(current ?? {}, key) !== Object.hasOwn(next, key) ||
        !isDeepStrictEqual(plain(current?.[key]), plain(next[key])),
    );
    // A set's rules hold for its members: moving a cluster out of (or into) a set with rules changes them.
    const members = (record: Record<string, unknown> | undefined, set: string) =>
      plain(syncSets(record ?? {}).get(set));
    for (const set of governedSets(current)) {
      if (!isDeepStrictEqual(members(current, set), members(next, set)))
        changed.push(`the clusters of sync set ${set}`);
      // A cluster reads the rules of the first set naming it: another set listed before may not take it.
      else
        for (const cluster of syncSets(current ?? {}).get(set) ?? [])
          if (syncSetOf(current ?? {}, cluster) !== syncSetOf(next, cluster))
            changed.push(`the sync set of cluster ${cluster}`);
    }
    if (changed.length > 0)
      throw new NotAllowedError(`only an admin may change ${changed.join(' and ')} of ${name}; ${subject} has ${role}`);
    return next;
  };
}

/**
 * RFC 7396 merge patch in which every key is data. The json-merge-patch package stops at a
 * `__proto__`, `constructor` or `prototype` key and returns what it has so far, so a patch
 * holding one was applied in part (the keys after it dropped) and answered 200. A PUT stores
 * `constructor` and `prototype` (they follow the key rule) and records from before the rule may
 * hold `__proto__`, so a patch must be able to change and remove them too.
 */
function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = {};
  const set = (key: string, value: unknown) =>
    Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
  if (target !== null && typeof target === 'object' && !Array.isArray(target))
    for (const [key, value] of Object.entries(target)) set(key, value);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else set(key, applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}

/** A handler for each operation of src/schema/openapi.yaml, by operationId, typed from it. */
export function createOperations({ store, environments, logger }: OperationsOptions): OperationHandlers {
  /**
   * A write whose result is checked first (checkKnownProperties: properties Slipway acts on, names
   * that would collide), then made with the same change; what was checked is what is stored unless
   * another write came between, which If-Match guards as it always does.
   */
  async function write(req: Request, name: string, edit: Edit, options: WriteOptions & { mustExist?: boolean }) {
    const change = guardRules(req, name, edit);
    const before = (await store.get(name))?.metadata;
    // A service that must exist and does not is the store's to refuse (404).
    if (before || !options.mustExist)
      await checkKnownProperties(name, change(before), before, { environments, logger });
    return store.write(name, change, options);
  }

  return typedOperations<operations>({
    async listServices(req, res) {
      // Besides q, limit and cursor, any metadata key is a filter (x-allow-unknown-query).
      const query = typedQuery(req) as Record<string, unknown>;
      const filters: Record<string, string> = {};
      for (const [key, value] of Object.entries(query)) {
        if (RESERVED_QUERY.has(key)) continue;
        assertMetadataKey(key);
        if (typeof value !== 'string') throw new InputError(`filter ${key} must be given once, as a plain value`);
        filters[key] = value;
      }
      const page = await store.list({
        filters,
        q: typeof query.q === 'string' && query.q !== '' ? query.q : undefined,
        limit: Number(query.limit),
        cursor: typeof query.cursor === 'string' && query.cursor !== '' ? query.cursor : undefined,
        offset: Number(query.offset ?? 0),
      });
      res.json(page);
    },

    async getService(req, res) {
      sendRecord(res, 200, await mustGet(store, req.params.name));
    },

    async putService(req, res) {
      assertPropertyNames(req.body, 'all');
      const { record, created } = await write(req, req.params.name, () => req.body, writeOptions(req));
      sendRecord(res, created ? 201 : 200, record);
    },

    async patchService(req, res) {
      const patch = req.body;
      assertPropertyNames(patch, 'set');
      const { record, created } = await write(
        req,
        req.params.name,
        (current) => applyMergePatch(current ?? {}, patch) as Metadata,
        writeOptions(req),
      );
      sendRecord(res, created ? 201 : 200, record);
    },

    async deleteService(req, res) {
      if (!(await store.delete(req.params.name, writeOptions(req)))) {
        throw new NotFoundError(`no service named ${req.params.name}`);
      }
      res.status(204).end();
    },

    async getServiceProperty(req, res) {
      const { name, key } = req.params;
      const record = await mustGet(store, name);
      if (!Object.hasOwn(record.metadata, key)) {
        throw new NotFoundError(`service ${name} has no metadata property '${key}'`);
      }
      res.setHeader('ETag', etag(record.revision));
      // JSON.stringify, not res.json: the bare value, including a bare string or null.
      res.type('application/json').send(JSON.stringify(record.metadata[key]));
    },

    async putServiceProperty(req, res) {
      const { name, key } = req.params;
      const value: unknown = req.body;
      const { record } = await write(req, name, (current) => ({ ...current, [key]: value }), {
        ...writeOptions(req),
        mustExist: true,
      });
      sendRecord(res, 200, record);
    },

    async deleteServiceProperty(req, res) {
      const { name, key } = req.params;
      await store.write(
        name,
        guardRules(req, name, (current) => {
          if (!current || !Object.hasOwn(current, key)) {
            throw new NotFoundError(`service ${name} has no metadata property '${key}'`);
          }
          const { [key]: _removed, ...rest } = current;
          return rest;
        }),
        { ...writeOptions(req), mustExist: true },
      );
      res.status(204).end();
    },

    async getServiceHistory(req, res) {
      const name = req.params.name;
      const items = await store.history(name, typedQuery(req).limit ?? 50);
      if (items.length === 0 && !(await store.get(name))) throw new NotFoundError(`no service named ${name}`);
      res.json({ items });
    },
  });
}

/**
 * The top-level keys of a whole-document write follow the rule the one-property endpoints'
 * {key} does, so every property can be read, written and removed one at a time. A merge patch
 * may still remove any key (`"key": null`): a record stored before the rule stays cleanable.
 */
function assertPropertyNames(metadata: Metadata, which: 'all' | 'set'): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (which === 'all' || value !== null) assertMetadataKey(key);
  }
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
