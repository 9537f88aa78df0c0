/**
 * A service artifact as `npm pack` makes it (a .tgz whose files are under `package/`), from the
 * example service in examples/search, with the version given and, if asked, broken: its
 * health check fails once `unhealthyAfterSeconds` have passed, or it answers `errorRate` of its
 * requests with 500, or takes about `latencyMs` to answer.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);
export const EXAMPLE_SERVICE_DIR = fileURLToPath(new URL('../../../examples/search/', import.meta.url));

export async function packExampleService(
  outDir: string,
  options: { version: string; unhealthyAfterSeconds?: number; name?: string; errorRate?: number; latencyMs?: number },
): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'slipway-pack-'));
  try {
    const dir = join(work, 'package');
    await cp(EXAMPLE_SERVICE_DIR, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ ...manifest, name: options.name ?? manifest.name, version: options.version }, null, 2),
    );
    await writeFile(
      join(dir, 'broken.json'),
      JSON.stringify({
        unhealthyAfterSeconds: options.unhealthyAfterSeconds ?? 0,
        errorRate: options.errorRate ?? 0,
        latencyMs: options.latencyMs ?? 0,
      }),
    );
    const file = join(outDir, `${options.name ?? 'search'}-${options.version}.tgz`);
    await run('tar', ['-czf', file, '-C', work, 'package']);
    return file;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A small artifact as `npm pack` shapes it (`package/package.json` and its entry point), the same
 * bytes for the same files: for tests of storing artifacts, not of running them.
 */
export async function packageTarball(files: Record<string, string> = { 'index.js': '' }): Promise<Buffer> {
  const work = await mkdtemp(join(tmpdir(), 'slipway-tarball-'));
  try {
    const dir = join(work, 'package');
    await mkdir(dir);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'search', main: 'index.js' }));
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const tar = await run(
      'tar',
      ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '-C', work, 'package'],
      {
        encoding: 'buffer',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return gzipSync(tar.stdout, { level: 9 });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
