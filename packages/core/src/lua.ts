/**
 * Lua scripts kept as `.lua` files, BullMQ's way: a script is read once, its
 * `--- @include "name"` lines replaced by the named file (from the script's own `includes/`, else
 * core's scripts), and defined on a connection with ioredis' `defineCommand`, so each call is an
 * EVALSHA with its keys named (ioredis falls back to EVAL once when Redis does not know the sha).
 *
 * The files are read from the package's `src/lua/` whether the caller runs from `src/` (jest)
 * or from `dist/` (node): `tsc` does not copy them, and a copy could go stale.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/** A package's scripts directory, from any module of it (`import.meta.url`). */
export function luaDirectory(moduleUrl: string): string {
  return fileURLToPath(new URL('../src/lua/', moduleUrl));
}

const CORE_LUA = luaDirectory(import.meta.url);

/** A script's text with its includes in place (each at most once). */
export function readLua(directory: string, name: string): string {
  const included = new Set<string>();
  const expand = (text: string): string =>
    text.replace(/^--- @include "([a-z0-9-]+)"$/gm, (_line, include: string) => {
      if (included.has(include)) return '';
      included.add(include);
      return expand(readFirst([`${directory}includes/${include}.lua`, `${CORE_LUA}${include}.lua`]));
    });
  return expand(readFirst([`${directory}${name}.lua`]));
}

function readFirst(paths: string[]): string {
  for (const path of paths) {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new Error(`no Lua script at ${paths.join(' or ')}`);
}

export type LuaCall = (keys: string[], args: (string | number)[]) => Promise<unknown>;

/**
 * Defines each script (name → number of keys, or `any`: as many as each call gives) on the
 * connection as a command named `<namespace><Name>`, and answers a caller for each.
 */
export function defineLuaScripts<Name extends string>(
  redis: Redis,
  directory: string,
  namespace: string,
  scripts: Record<Name, number | 'any'>,
): Record<Name, LuaCall> {
  const calls = {} as Record<Name, LuaCall>;
  for (const [name, numberOfKeys] of Object.entries(scripts) as [Name, number | 'any'][]) {
    const command = `${namespace}${name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())}`;
    if (!(command in redis)) {
      const lua = readLua(directory, name);
      redis.defineCommand(command, numberOfKeys === 'any' ? { lua } : { numberOfKeys, lua });
    }
    const method = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[command]!;
    calls[name] = (keys, args) => {
      // A command defined without its number of keys takes it first.
      if (numberOfKeys === 'any') return method.call(redis, keys.length, ...keys, ...args);
      if (keys.length !== numberOfKeys) throw new Error(`${name} takes ${numberOfKeys} keys, given ${keys.length}`);
      return method.call(redis, ...keys, ...args);
    };
  }
  return calls;
}
