/**
 * `slipway build SERVICE`: runs the build the service's metadata declares (`build`: `{ "command":
 * ["npm", "pack"], "dir": "." }`, the default), takes the version from the build (package.json,
 * else `git describe`), and uploads the .tgz it made as that version's artifact. The same
 * source builds the same artifact, so building twice is fine; other source under a version
 * already stored is refused with what to do instead.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { answer, CliError, client, inWords, raw } from '../api.js';
import { knownService } from '../names.js';
import { dim, green, line, show, type GlobalOptions } from '../output.js';
import { recordSource } from './source.js';

const run = promisify(execFile);

interface BuildSpec {
  command?: string[] | string;
  dir?: string;
}

async function versionOf(dir: string): Promise<string> {
  const manifest = join(dir, 'package.json');
  if (existsSync(manifest)) {
    const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version;
    if (version) return version;
  }
  try {
    return (await run('git', ['describe', '--tags', '--always'], { cwd: dir })).stdout.trim();
  } catch {
    throw new CliError(`cannot tell the version in ${dir}: no package.json version and no git describe`);
  }
}

/** The newest .tgz the command left in `dir` (made or rewritten since `since`). */
async function madeIn(dir: string, before: Set<string>, since: number): Promise<string | undefined> {
  const made = (await readdir(dir))
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => ({ f, at: statSync(join(dir, f)).mtimeMs }))
    .filter(({ f, at }) => !before.has(f) || at >= since - 1000)
    .sort((a, b) => b.at - a.at)[0];
  return made && join(dir, made.f);
}

export async function build(service: string | undefined, options: GlobalOptions & { dir?: string }) {
  const name = await knownService(service);
  const record = await answer(client('metadata').GET('/services/{name}', { params: { path: { name } } }), 'metadata');
  const spec = (record.metadata.build ?? {}) as BuildSpec;
  const dir = resolve(options.dir ?? spec.dir ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`no directory ${dir}`, true);
  // The default packs outside the source, so an earlier build's .tgz is never packed into the next.
  const out = spec.command === undefined ? await mkdtemp(join(tmpdir(), 'slipway-build-')) : dir;
  const command =
    spec.command === undefined
      ? ['npm', 'pack', '--silent', '--pack-destination', out]
      : Array.isArray(spec.command)
        ? spec.command
        : spec.command.split(/\s+/);
  try {
    const before = new Set((await readdir(out)).filter((f) => f.endsWith('.tgz')));
    const started = Date.now();
    try {
      // Never through a shell: the command is an argument list.
      await run(command[0]!, command.slice(1), { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      throw new CliError(
        `build failed: ${command.join(' ')}: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n').pop()}`,
      );
    }
    const made = await madeIn(out, before, started);
    if (!made) throw new CliError(`the build made no .tgz in ${out}`);
    const version = await versionOf(dir);
    const response = await raw('baking', `/artifacts/${name}/${encodeURIComponent(version)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/gzip' },
      body: await readFile(made),
    });
    const body = (await response.json().catch(() => ({}))) as { sha256?: string; detail?: string };
    if (response.status === 409)
      throw new CliError(
        `${name} ${version} is already stored, built from other source: a version never changes. ` +
          `Give this source a new version (package.json "version", e.g. ${nextVersion(version)}) and build again.`,
      );
    if (!response.ok) throw new CliError(inWords(response.status, body as never));
    const again = response.status === 200;
    const commit = await recordSource(name, version, dir, record.metadata.repo);
    show(
      options,
      { service: name, version, artifact: made, sha256: body.sha256, unchanged: again, ...(commit ? { commit } : {}) },
      () =>
        line(
          `${green(`${name} ${version}${commit ? ` (${commit.slice(0, 12)})` : ''}`)}${again ? dim(' (already stored, the same content)') : ''}`,
        ),
    );
  } finally {
    if (out !== dir) await rm(out, { recursive: true, force: true });
  }
}

/** 1.4.0 → 1.4.1; anything else gets a suffix. */
function nextVersion(version: string): string {
  const match = /^(.*?)(\d+)$/.exec(version);
  return match ? `${match[1]}${Number(match[2]) + 1}` : `${version}.1`;
}
