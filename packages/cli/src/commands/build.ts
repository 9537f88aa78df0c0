/**
 * `slipway build SERVICE`: runs the checkout's build — `npm pack`, or the command its own
 * `slipway.json` names (`{"build": {"command": [...]}}`: the repository's code, trusted as the
 * code being built is) — takes the version from the build (package.json, else `git describe`),
 * and uploads the .tgz it made as that version's artifact. A build command in the service's
 * metadata (`build`, which anyone with the deployer role may change) runs code on whoever
 * builds: it is shown and asked about on a terminal, and never run without one unless
 * `--trust-build-command` says so. Builds run without SLIPWAY_TOKEN in their environment. The
 * same source builds the same artifact, so building twice is fine; other source under a version
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
import { confirm, isInteractive } from '../prompt.js';
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

/** The checkout's own build (slipway.json), if it names one. */
function repositorySpec(dir: string): BuildSpec | undefined {
  const file = join(dir, 'slipway.json');
  if (!existsSync(file)) return undefined;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { build?: BuildSpec }).build;
  } catch (error) {
    throw new CliError(`${file} is not JSON: ${(error as Error).message}`);
  }
}

/**
 * A build spec from the service's metadata runs on this machine as this user: shown and asked
 * about on a terminal; without one, run only when the person said --trust-build-command.
 */
async function trustMetadataSpec(name: string, spec: BuildSpec, trusted: boolean | undefined): Promise<void> {
  const said = `${spec.command === undefined ? 'npm pack' : Array.isArray(spec.command) ? spec.command.join(' ') : spec.command}${spec.dir ? ` (in ${spec.dir})` : ''}`;
  if (trusted) return;
  const where = `the build command of ${name} comes from the service's metadata (its build property), which anyone with the deployer role may change`;
  if (!isInteractive())
    throw new CliError(
      `${where}: ${said}. Not run without a terminal to ask on: pass --trust-build-command if you trust it, or put it in the repository's slipway.json`,
    );
  line(`${where}:
  ${said}`);
  if (!(await confirm('Run it?'))) throw new CliError('build not run');
}

export async function build(
  service: string | undefined,
  options: GlobalOptions & { dir?: string; trustBuildCommand?: boolean },
) {
  const name = await knownService(service);
  const record = await answer(client('metadata').GET('/services/{name}', { params: { path: { name } } }), 'metadata');
  const fromMetadata = record.metadata.build as BuildSpec | undefined;
  // Where to build is --dir, else here; a directory the metadata names is asked about like a command.
  const metadataDir = options.dir === undefined && fromMetadata?.dir !== undefined;
  const checkout = resolve(options.dir ?? fromMetadata?.dir ?? '.');
  const fromRepository = existsSync(checkout) ? repositorySpec(checkout) : undefined;
  const spec = fromRepository ?? fromMetadata ?? {};
  if (metadataDir || (!fromRepository && fromMetadata?.command !== undefined))
    await trustMetadataSpec(name, fromMetadata!, options.trustBuildCommand);
  const dir = fromRepository?.dir ? resolve(checkout, fromRepository.dir) : checkout;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`no directory ${dir}`, true);
  if (spec.command === undefined && !existsSync(join(dir, 'package.json')))
    throw new CliError(
      `no package.json in ${dir}: slipway build packs an npm package (npm pack); for anything else, name the build command in the checkout's slipway.json ({"build": {"command": [...]}})`,
    );
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
      // The build never sees the Slipway token: it has no use for it.
      const { SLIPWAY_TOKEN: _token, ...env } = process.env;
      await run(command[0]!, command.slice(1), { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 });
    } catch (error) {
      throw new CliError(
        `build failed: ${command.join(' ')}: ${((error as { stderr?: string }).stderr?.trim() || (error as Error).message).trim().split('\n').pop()}`,
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
