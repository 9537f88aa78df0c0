/**
 * The three files of a configuration repository: what each must hold, how the properties are
 * written for an instance, and what changed between two commits.
 */
import { Ajv } from 'ajv';
import { describeSchemaErrors } from '@slipway/core';
import { deploymentParamsSchema } from '@slipway/config-api';
import addFormatsModule from 'ajv-formats';
import { isDeepStrictEqual } from 'node:util';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const FILES = {
  applicationProperties: 'application-properties.json',
  deploymentParams: 'deployment-params.json',
  launchData: 'launch-data.json',
} as const;

export type FileKey = keyof typeof FILES;

export interface ConfigError {
  file: string;
  path: string;
  message: string;
}

export interface ConfigFiles {
  applicationProperties: Record<string, unknown> | null;
  deploymentParams: Record<string, unknown> | null;
  launchData: string[] | null;
}

const ajv = new Ajv({ allErrors: true, useDefaults: false, strict: false });
addFormats(ajv);
const validators = {
  applicationProperties: ajv.compile({ type: 'object' }),
  deploymentParams: ajv.compile(deploymentParamsSchema),
  launchData: ajv.compile({ type: 'array', items: { type: 'string', maxLength: 10_000 }, maxItems: 200 }),
};

/**
 * Parses and validates the three files as read at one commit (undefined: the file is absent).
 * A file that is absent or does not parse is null in `files`, with the reason in `errors`.
 */
export function readConfigFiles(raw: Record<FileKey, Buffer | undefined>): {
  files: ConfigFiles;
  errors: ConfigError[];
} {
  const errors: ConfigError[] = [];
  const files: ConfigFiles = { applicationProperties: null, deploymentParams: null, launchData: null };
  for (const key of Object.keys(FILES) as FileKey[]) {
    const file = FILES[key];
    const content = raw[key];
    if (content === undefined) {
      // Only deployment-params is required: no properties and no launch commands are fine.
      if (key === 'deploymentParams') errors.push({ file, path: '', message: `${file} is missing` });
      else (files as unknown as Record<string, unknown>)[key] = key === 'launchData' ? [] : {};
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(content.toString('utf8'));
    } catch (error) {
      errors.push({ file, path: '', message: `not valid JSON: ${(error as Error).message}` });
      continue;
    }
    const validate = validators[key];
    if (!validate(value)) {
      errors.push(...describeSchemaErrors(validate.errors).map((e) => ({ file, ...e })));
      continue;
    }
    (files as unknown as Record<string, unknown>)[key] = value;
  }
  const params = files.deploymentParams as { capacity?: { min?: number; desired: number; max?: number } } | null;
  if (params?.capacity) {
    const { min, desired, max } = params.capacity;
    if ((min !== undefined && min > desired) || (max !== undefined && desired > max)) {
      errors.push({
        file: FILES.deploymentParams,
        path: '/capacity',
        message: `must satisfy min ≤ desired ≤ max (min ${min ?? '-'}, desired ${desired}, max ${max ?? '-'})`,
      });
    }
  }
  const check = (
    files.deploymentParams as { healthCheck?: { timeoutSeconds?: number; intervalSeconds?: number } } | null
  )?.healthCheck;
  if (check && (check.timeoutSeconds ?? 4) >= (check.intervalSeconds ?? 5)) {
    errors.push({
      file: FILES.deploymentParams,
      path: '/healthCheck/timeoutSeconds',
      message: `must be below intervalSeconds (${check.intervalSeconds ?? 5}), as AWS requires`,
    });
  }
  return { files, errors };
}

/** `{ a: { b: 1 }, l: [x, y] }` → `{ 'a.b': 1, 'l[0]': x, 'l[1]': y }`. */
export function flatten(value: unknown, prefix = '', into: Record<string, unknown> = {}): Record<string, unknown> {
  if (Array.isArray(value)) {
    value.forEach((element, i) => flatten(element, `${prefix}[${i}]`, into));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, element] of Object.entries(value)) flatten(element, prefix ? `${prefix}.${key}` : key, into);
  } else if (prefix) {
    into[prefix] = value;
  }
  return into;
}

/**
 * Java `.properties` text: nested objects flattened with dots, keys sorted, keys and values
 * escaped as java.util.Properties reads them (non-ASCII as \uXXXX, so the file is pure ASCII).
 */
export function toJavaProperties(properties: Record<string, unknown>): string {
  const flat = flatten(properties);
  return Object.keys(flat)
    .sort()
    .map((key) => `${escapeProperty(key, true)}=${escapeProperty(stringify(flat[key]), false)}\n`)
    .join('');
}

function stringify(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

function escapeProperty(text: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const code = text.charCodeAt(i);
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\f') out += '\\f';
    else if (ch === ' ' && (isKey || i === 0)) out += '\\ ';
    else if ('=:#!'.includes(ch)) out += `\\${ch}`;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

export interface KeyDiff {
  added: Record<string, unknown>;
  removed: Record<string, unknown>;
  changed: Record<string, { old: unknown; new: unknown }>;
}

/** Changes between two JSON documents, by flattened key (`a.b`, `l[0]`). */
export function diffJson(before: unknown, after: unknown): KeyDiff {
  const a = flatten(before);
  const b = flatten(after);
  const diff: KeyDiff = { added: {}, removed: {}, changed: {} };
  for (const [key, value] of Object.entries(b)) {
    if (!(key in a)) diff.added[key] = value;
    else if (!isDeepStrictEqual(a[key], value)) diff.changed[key] = { old: a[key], new: value };
  }
  for (const [key, value] of Object.entries(a)) if (!(key in b)) diff.removed[key] = value;
  return diff;
}

/** Launch-data changes as lines added and removed (each line counted as often as it appears). */
export function diffLines(before: string[], after: string[]): { added: string[]; removed: string[] } {
  const remaining = new Map<string, number>();
  for (const line of before) remaining.set(line, (remaining.get(line) ?? 0) + 1);
  const added: string[] = [];
  for (const line of after) {
    const count = remaining.get(line) ?? 0;
    if (count > 0) remaining.set(line, count - 1);
    else added.push(line);
  }
  const removed: string[] = [];
  const toRemove = new Map(remaining);
  for (const line of before) {
    const count = toRemove.get(line) ?? 0;
    if (count > 0) {
      removed.push(line);
      toRemove.set(line, count - 1);
    }
  }
  return { added, removed };
}
