/**
 * What an artifact must be before it is stored, and again before it is baked: a gzip tarball of
 * the service's package, as `npm pack` makes it (one top directory, `package/`, holding
 * package.json and the entry point it names), and nothing a bake running as the platform's user
 * (root, on many hosts) could turn against the host: no setuid or setgid file, no device node
 * or FIFO, no path or link that leaves the package. Each refusal is a 422 naming the entry.
 * Extraction (templates/packer/service-local.json) also drops owners and caps permissions.
 */
import { UnprocessableError } from '@slipway/core';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';

const MAX_ENTRIES = 100_000;
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The entry's path inside the package (npm pack's `package/` taken off, as the bake's extraction does). */
function inPackage(name: string): { top: string; rest: string } | undefined {
  const parts = name
    .replace(/^(\.\/)+/, '')
    .split('/')
    .filter(Boolean);
  if (name.startsWith('/') || parts.includes('..')) return undefined;
  return { top: parts[0] ?? '', rest: parts.slice(1).join('/') };
}

function refuse(entry: string, why: string): never {
  throw new UnprocessableError(
    `the artifact's entry ${entry} ${why}: refused (it would be unpacked on the platform's host)`,
  );
}

/** Why one entry may not be unpacked, thrown as a 422 naming it. */
function checkEntry(header: Header, top: string): void {
  const name = header.name;
  const where = inPackage(name);
  if (!where) refuse(name, 'leaves the package (an absolute path or ..)');
  if (where.top !== top) refuse(name, `is outside the package's one top directory (${top}/)`);
  const mode = header.mode ?? 0;
  if (mode & 0o4000) refuse(name, 'is setuid');
  if (mode & 0o2000) refuse(name, 'is setgid');
  switch (header.type ?? 'file') {
    case 'file':
    case 'contiguous-file':
    case 'directory':
      return;
    case 'character-device':
    case 'block-device':
      return refuse(name, 'is a device node');
    case 'fifo':
      return refuse(name, 'is a FIFO');
    case 'symlink': {
      // Resolved where it stands, it must stay under the package's top directory.
      const target = header.linkname ?? '';
      const resolved = posix.normalize(posix.join(posix.dirname(where.rest), target));
      if (target.startsWith('/') || resolved === '..' || resolved.startsWith('../'))
        refuse(name, `links outside the package (${target})`);
      return;
    }
    case 'link': {
      // A hard link names another entry of the archive.
      const target = inPackage(header.linkname ?? '');
      if (!target || target.top !== top) refuse(name, `links outside the package (${header.linkname})`);
      return;
    }
    default:
      return refuse(name, `is of a kind that is not unpacked (${header.type})`);
  }
}

/** Resolves when the file is a tarball of a package with its entry point; otherwise a 422 saying what is wrong. */
export async function checkArtifact(file: string): Promise<void> {
  const files = new Set<string>();
  let top: string | undefined;
  let manifest: string | undefined;
  let entries = 0;
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const consume = (text?: (body: string) => void) => {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: unknown) => {
        size += (chunk as Buffer).length;
        if (text && size <= MAX_MANIFEST_BYTES) chunks.push(chunk as Buffer);
      });
      stream.on('end', () => {
        text?.(Buffer.concat(chunks).toString('utf8'));
        next();
      });
      stream.resume();
    };
    try {
      if (++entries > MAX_ENTRIES) throw new UnprocessableError(`the artifact holds more than ${MAX_ENTRIES} entries`);
      top ??= inPackage(header.name)?.top;
      checkEntry(header, top ?? '');
      const rest = inPackage(header.name)!.rest;
      if (header.type !== 'directory' && rest) files.add(rest);
      consume(rest === 'package.json' ? (body) => (manifest = body) : undefined);
    } catch (error) {
      stream.resume();
      next(error as Error);
    }
  });
  try {
    await pipeline(createReadStream(file), createGunzip(), tar);
  } catch (error) {
    if (error instanceof UnprocessableError) throw error;
    throw new UnprocessableError(`the artifact is not a tarball (npm pack makes one): ${(error as Error).message}`);
  }
  if (entries === 0) throw new UnprocessableError('the artifact is not a tarball (npm pack makes one): it is empty');
  if (manifest === undefined)
    throw new UnprocessableError(`the artifact holds no package.json in its top directory (${top ?? 'none'}/)`);
  let main: unknown;
  try {
    main = (JSON.parse(manifest) as { main?: unknown }).main;
  } catch {
    throw new UnprocessableError(`the artifact's package.json is not JSON`);
  }
  const entry =
    typeof main === 'string' && main.trim() ? posix.normalize(main.trim()).replace(/^\.\//, '') : 'index.js';
  const found = [entry, `${entry}.js`, `${entry}.json`, `${entry}/index.js`].some((f) => files.has(f));
  if (!found) throw new UnprocessableError(`the artifact's entry point ${entry} (package.json "main") is not in it`);
}
