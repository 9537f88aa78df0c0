/**
 * Limits on what a request may carry, checked at the edge before any handler sees it: how deep
 * JSON nests, how long keys and strings are, and that every string is well-formed Unicode
 * without NUL. Stores, Lua scripts, Git and Packer downstream then never meet a value they
 * cannot encode, so no request can leave a record that later writes choke on.
 */
import type { Request } from 'express';
import { InputError, type FieldError } from './errors.js';

export interface InputLimits {
  /** Objects and arrays inside each other, the body itself being depth 1. */
  maxDepth: number;
  /** Characters in an object key. */
  maxKeyLength: number;
  /** Characters in a string value. */
  maxStringLength: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = { maxDepth: 64, maxKeyLength: 256, maxStringLength: 256 * 1024 };

/** The first thing wrong with this string, in words, or undefined when it is fine. */
export function stringProblem(text: string, maxLength: number, what = 'string'): string | undefined {
  if (text.length > maxLength) return `${what} is ${text.length} characters long; at most ${maxLength} are accepted`;
  const nul = text.indexOf('\0');
  if (nul >= 0) return `${what} contains a NUL character (U+0000) at index ${nul}`;
  const index = loneSurrogateAt(text);
  if (index >= 0) {
    const code = text.charCodeAt(index).toString(16).toUpperCase();
    return `${what} contains a lone surrogate (U+${code}) at index ${index}: it is not well-formed Unicode`;
  }
  return undefined;
}

function loneSurrogateAt(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return i;
    } else if (code >= 0xdc00 && code <= 0xdfff) return i;
  }
  return -1;
}

/** Every problem of a parsed JSON value, each with where it is (`/body/a/0/b`); at most `max`. */
export function inputProblems(value: unknown, at: string, limits: InputLimits = DEFAULT_INPUT_LIMITS, max = 10) {
  const problems: FieldError[] = [];
  // Iterative, so that no nesting, however deep, can exhaust the stack. A value's path is
  // written out only when a problem is found at or under it: escaping every key of every
  // request was most of this check's cost (bench/config).
  const stack: Place[] = [{ value, depth: 1, path: at }];
  while (stack.length > 0 && problems.length < max) {
    const place = stack.pop()!;
    const { value, depth } = place;
    if (typeof value === 'string') {
      const problem = stringProblem(value, limits.maxStringLength);
      if (problem) problems.push({ path: pathOf(place), message: problem });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > limits.maxDepth) {
      problems.push({ path: pathOf(place), message: `nests deeper than ${limits.maxDepth} levels` });
      continue;
    }
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      const childPlace: Place = { value: child, depth: depth + 1, parent: place, key };
      if (!Array.isArray(value)) {
        const problem = stringProblem(key, limits.maxKeyLength, 'key');
        if (problem) {
          problems.push({ path: pathOf(childPlace), message: problem });
          continue;
        }
      }
      stack.push(childPlace);
    }
  }
  return problems;
}

/** A value met by inputProblems: the root with its path, any other by its parent and key. */
interface Place {
  value: unknown;
  depth: number;
  path?: string;
  parent?: Place;
  key?: string;
}

function pathOf(place: Place): string {
  place.path ??= `${pathOf(place.parent!)}/${escapePointer(place.key!)}`;
  return place.path;
}

/** JSON Pointer escaping, and no raw control or lone surrogate characters echoed back. */
function escapePointer(key: string): string {
  const pointer = key.replace(/~/g, '~0').replace(/\//g, '~1');
  // JSON.stringify writes a lone surrogate as a \uXXXX escape, and control characters too.
  return loneSurrogateAt(pointer) < 0 && ![...pointer].some((c) => c.charCodeAt(0) < 0x20)
    ? pointer
    : JSON.stringify(pointer).slice(1, -1);
}

/**
 * Throws a 400 saying where when a request's path, query or JSON body breaks the limits. The
 * router calls it once the request is authenticated and its body read, with the query it
 * parsed (express's req.query is parsed anew on every read), before validation.
 */
export function requestInputCheck(
  limits: InputLimits = DEFAULT_INPUT_LIMITS,
): (req: Request, query: Record<string, unknown>) => void {
  return (req, query) => {
    const problems: FieldError[] = [];
    let path: string | undefined;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      problems.push({ path: '/path', message: 'the path is not well-formed percent-encoded UTF-8' });
    }
    const pathProblem = path === undefined ? undefined : stringProblem(path, 4096, 'the path');
    if (pathProblem) problems.push({ path: '/path', message: pathProblem });
    problems.push(...inputProblems(query, '/query', limits));
    if (req.body !== undefined && !Buffer.isBuffer(req.body))
      problems.push(...inputProblems(req.body, '/body', limits));
    if (problems.length === 0) return;
    throw new InputError(problems.map((p) => `${p.path}: ${p.message}`).join('; '), { errors: problems });
  };
}
