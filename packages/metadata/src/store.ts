/**
 * Where the registry lives: Redis, under this service's own key prefix.
 *
 *   services          HASH  name → JSON ServiceRecord
 *   names             ZSET  every name, score 0, so pages come in name order (ZRANGEBYLEX)
 *   history:<name>    LIST  JSON HistoryEntry, newest first, capped
 *   generation        a number every write increments
 *
 * Every write is a compare-and-set on the record exactly as it was read, in one Lua script, so
 * a write never lands on a record it did not read: concurrent PATCHes retry instead of losing
 * keys. The script compares bytes and decodes nothing, so a record that Redis' cjson cannot
 * decode (a lone surrogate or deep nesting stored before the edge refused them) can still be
 * written over and deleted.
 */
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, NotFoundError, PayloadTooLargeError, PreconditionFailedError } from '@slipway/core';
import { type Redis } from '@slipway/core/redis';

export type Metadata = Record<string, unknown>;

export interface ServiceRecord {
  name: string;
  metadata: Metadata;
  revision: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
}

export interface Change {
  added: Metadata;
  removed: Metadata;
  changed: Record<string, { old: unknown; new: unknown }>;
}

export interface HistoryEntry {
  revision: number;
  at: string;
  by: string;
  deleted?: boolean;
  change: Change;
}

export interface ListQuery {
  /** Top-level property → wanted value (exact; case-insensitive for strings). */
  filters: Record<string, string>;
  q?: string;
  limit: number;
  cursor?: string;
  /** Skip this many matching services (after the cursor, if any): page N of a list is one read. */
  offset?: number;
}

export interface ServicePage {
  items: Array<Pick<ServiceRecord, 'name' | 'metadata' | 'revision' | 'updatedAt'>>;
  nextCursor?: string;
  /** How many services match in all, whatever the page. */
  total: number;
}

export interface WriteOptions {
  by: string;
  /** The revision the caller last read (If-Match); a different current one → 412. */
  ifMatch?: number;
}

/** Given the current metadata (undefined for a new service), the metadata to store. */
export type Edit = (current: Metadata | undefined) => Metadata;

export interface ServiceStore {
  list(query: ListQuery): Promise<ServicePage>;
  get(name: string): Promise<ServiceRecord | undefined>;
  /** Applies `edit` atomically; `mustExist` refuses to create. */
  write(
    name: string,
    edit: Edit,
    options: WriteOptions & { mustExist?: boolean },
  ): Promise<{ record: ServiceRecord; created: boolean }>;
  delete(name: string, options: WriteOptions): Promise<boolean>;
  history(name: string, limit: number): Promise<HistoryEntry[]>;
}

export const MAX_METADATA_BYTES = 64 * 1024;
const HISTORY_LENGTH = 1000;
const SCAN_CHUNK = 1000;
const WRITE_ATTEMPTS = 50;

// KEYS: services, names, history:<name>, generation. ARGV: name, the record as read ('' = absent),
// record JSON ('' deletes), history entry JSON, history length.
const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return {0} end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
redis.call('INCR', KEYS[4])
return {1}
`;

interface ScriptedRedis extends Redis {
  slipwayCompareAndSet(
    services: string,
    names: string,
    history: string,
    generation: string,
    name: string,
    expected: string,
    record: string,
    entry: string,
    historyLength: number,
  ): Promise<[number]>;
}

export function createRedisServiceStore({ redis }: { redis: Redis }): ServiceStore {
  const scripted = redis as ScriptedRedis;
  if (!('slipwayCompareAndSet' in scripted)) {
    redis.defineCommand('slipwayCompareAndSet', { numberOfKeys: 4, lua: COMPARE_AND_SET });
  }
  const historyKey = (name: string) => `history:${name}`;
  // Writes to one name from this process wait for each other instead of racing on the
  // compare-and-set; the CAS still guards against other replicas.
  const writing = new Map<string, Promise<unknown>>();
  function serialised<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = writing.get(name) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    writing.set(name, settled);
    void settled.then(() => {
      if (writing.get(name) === settled) writing.delete(name);
    });
    return next;
  }

  async function read(name: string): Promise<ServiceRecord | undefined> {
    return (await readRaw(name)).record;
  }

  /** The record and its stored bytes, which a write compares against. */
  async function readRaw(name: string): Promise<{ raw: string; record: ServiceRecord | undefined }> {
    const raw = (await redis.hget('services', name)) ?? '';
    return { raw, record: raw ? (JSON.parse(raw) as ServiceRecord) : undefined };
  }

  async function lastRevision(name: string, current: ServiceRecord | undefined): Promise<number> {
    if (current) return current.revision;
    // A service deleted and created again carries on from its history's numbering.
    const last = await redis.lindex(historyKey(name), 0);
    return last ? (JSON.parse(last) as HistoryEntry).revision : 0;
  }

  /**
   * Every record, parsed and sorted by name, kept as long as the generation (which every write
   * increments in the same script) has not moved: a list costs one GET when nothing changed,
   * and a write on any replica is seen by the next list.
   */
  let snapshot: { generation: string; records: ServiceRecord[] } | undefined;
  let loading: { generation: string; records: Promise<ServiceRecord[]> } | undefined;
  async function everything(): Promise<ServiceRecord[]> {
    const generation = (await redis.get('generation')) ?? '0';
    if (snapshot?.generation === generation) return snapshot.records;
    // Join a load only if it began at this generation: an older one may miss a write.
    if (loading?.generation === generation) return loading.records;
    const records = (async () => {
      const loaded: ServiceRecord[] = [];
      let start = '-';
      for (;;) {
        const names = await redis.zrangebylex('names', start, '+', 'LIMIT', 0, SCAN_CHUNK);
        if (names.length === 0) break;
        for (const raw of await redis.hmget('services', ...names)) {
          if (raw) loaded.push(JSON.parse(raw) as ServiceRecord); // null: deleted between the reads
        }
        if (names.length < SCAN_CHUNK) break;
        start = `(${names[names.length - 1]!}`;
      }
      // Kept under the generation read before loading: a write during the load moves it on.
      snapshot = { generation, records: loaded };
      return loaded;
    })();
    loading = { generation, records };
    try {
      return await records;
    } finally {
      if (loading?.records === records) loading = undefined;
    }
  }

  async function compareAndSet(name: string, expected: string, record: string, entry: HistoryEntry): Promise<boolean> {
    const [ok] = await scripted.slipwayCompareAndSet(
      'services',
      'names',
      historyKey(name),
      'generation',
      name,
      expected,
      record,
      JSON.stringify(entry),
      HISTORY_LENGTH,
    );
    return ok === 1;
  }

  return {
    async list({ filters, q, limit, cursor, offset = 0 }) {
      const matches = matcher(filters, q);
      const all = await everything();
      let start = 0;
      if (cursor) {
        // The first name after the cursor (names are sorted).
        let low = 0;
        let high = all.length;
        while (low < high) {
          const mid = (low + high) >> 1;
          if (all[mid]!.name <= cursor) low = mid + 1;
          else high = mid;
        }
        start = low;
      }
      // Every record is matched (the snapshot is in memory) to count them; only the page is copied.
      const items: ServicePage['items'] = [];
      let total = 0;
      let skipped = 0;
      let more = false;
      for (let i = 0; i < all.length; i++) {
        const record = all[i]!;
        if (!matches(record)) continue;
        total++;
        if (i < start) continue;
        if (skipped < offset) skipped++;
        else if (items.length === limit) more = true;
        else
          items.push({
            name: record.name,
            metadata: record.metadata,
            revision: record.revision,
            updatedAt: record.updatedAt,
          });
      }
      return { items, total, ...(more ? { nextCursor: items[items.length - 1]!.name } : {}) };
    },

    get: read,
    write: (name, edit, options) => serialised(name, () => writeOnce(name, edit, options)),

    delete: (name, options) => serialised(name, () => deleteOnce(name, options)),

    async history(name, limit) {
      const raws = await redis.lrange(historyKey(name), 0, limit - 1);
      return raws.map((raw) => JSON.parse(raw) as HistoryEntry);
    },
  };

  async function writeOnce(
    name: string,
    edit: Edit,
    { by, ifMatch, mustExist }: WriteOptions & { mustExist?: boolean },
  ): Promise<{ record: ServiceRecord; created: boolean }> {
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const { raw, record: current } = await readRaw(name);
      if (ifMatch !== undefined && ifMatch !== (current?.revision ?? 0)) {
        throw new PreconditionFailedError(
          `service ${name} is at revision ${current?.revision ?? 'none'}, not ${ifMatch}: read it again`,
        );
      }
      if (mustExist && !current) throw new NotFoundError(`no service named ${name}`);
      const metadata = edit(current?.metadata === undefined ? undefined : structuredClone(current.metadata));
      const body = JSON.stringify(metadata);
      if (Buffer.byteLength(body) > MAX_METADATA_BYTES) {
        throw new PayloadTooLargeError(
          `metadata of ${name} would be ${Buffer.byteLength(body)} bytes; at most ${MAX_METADATA_BYTES} are kept`,
        );
      }
      const now = new Date().toISOString();
      const revision = (await lastRevision(name, current)) + 1;
      const record: ServiceRecord = {
        name,
        metadata,
        revision,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        updatedBy: by,
      };
      const entry: HistoryEntry = { revision, at: now, by, change: diff(current?.metadata ?? {}, metadata) };
      if (await compareAndSet(name, raw, JSON.stringify(record), entry)) {
        return { record, created: !current };
      }
      if (ifMatch !== undefined) {
        throw new PreconditionFailedError(`service ${name} changed while writing: read it again`);
      }
      await jitter(attempt);
    }
    throw new ConflictError(`service ${name} is being changed by many writers at once; try again`);
  }

  async function deleteOnce(name: string, { by, ifMatch }: WriteOptions): Promise<boolean> {
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const { raw, record: current } = await readRaw(name);
      if (!current) return false;
      if (ifMatch !== undefined && ifMatch !== current.revision) {
        throw new PreconditionFailedError(`service ${name} is at revision ${current.revision}, not ${ifMatch}`);
      }
      const entry: HistoryEntry = {
        revision: current.revision + 1,
        at: new Date().toISOString(),
        by,
        deleted: true,
        change: diff(current.metadata, {}),
      };
      if (await compareAndSet(name, raw, '', entry)) return true;
      await jitter(attempt);
    }
    throw new ConflictError(`service ${name} is being changed by many writers at once; try again`);
  }
}

/** A short random wait that grows with the attempt, so racing replicas stop colliding. */
function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Which top-level keys were added, removed or changed, with old and new values. */
export function diff(before: Metadata, after: Metadata): Change {
  const change: Change = { added: {}, removed: {}, changed: {} };
  for (const [key, value] of Object.entries(after)) {
    if (!(key in before)) change.added[key] = value;
    else if (!isDeepStrictEqual(before[key], value)) change.changed[key] = { old: before[key], new: value };
  }
  for (const [key, value] of Object.entries(before)) {
    if (!(key in after)) change.removed[key] = value;
  }
  return change;
}

function matcher(filters: Record<string, string>, q: string | undefined): (record: ServiceRecord) => boolean {
  const wanted = Object.entries(filters).map(([key, value]) => [key, value.toLowerCase()] as const);
  const needle = q?.toLowerCase();
  return (record) =>
    wanted.every(([key, value]) => valueMatches(record.metadata[key], value)) &&
    (!needle || record.name.includes(needle) || containsString(record.metadata, needle));
}

function valueMatches(actual: unknown, wanted: string): boolean {
  if (Array.isArray(actual)) return actual.some((element) => valueMatches(element, wanted));
  if (typeof actual === 'string') return actual.toLowerCase() === wanted;
  if (typeof actual === 'number' || typeof actual === 'boolean') return String(actual) === wanted;
  return actual === null && wanted === 'null';
}

function containsString(value: unknown, needle: string): boolean {
  if (typeof value === 'string') return value.toLowerCase().includes(needle);
  if (Array.isArray(value)) return value.some((element) => containsString(element, needle));
  if (value && typeof value === 'object') return Object.values(value).some((v) => containsString(v, needle));
  return false;
}
