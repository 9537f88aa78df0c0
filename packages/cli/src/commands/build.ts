/**
 * `slipway build SERVICE`: runs the build the service's metadata declares (`build`: `{ "command":
 * ["npm", "pack"], "dir": "." }`, the default), takes the version from the build (package.json,
 * else `git describe`), and uploads the .tgz it made as that version's artifact.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { answer, CliError, client, rawJson } from '../api.js';
import { green, line, show, type GlobalOptions } from '../output.js';
import { pickService } from './services.js';
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

export async function build(service: string | undefined, options: GlobalOptions & { dir?: string }) {
  const name = await pickService(service);
  const record = await answer(client('metadata').GET('/services/{name}', { params: { path: { name } } }), 'metadata');
  const spec = (record.metadata.build ?? {}) as BuildSpec;
  const dir = resolve(options.dir ?? spec.dir ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`no directory ${dir}`, true);
  const command = Array.isArray(spec.command) ? spec.command : (spec.command ?? 'npm pack --silent').split(/\s+/);
  const before = new Set((await readdir(dir)).filter((f) => f.endsWith('.tgz')));
  const started = Date.now();
  try {
    // Never through a shell: the command is an argument list.
    await run(command[0]!, command.slice(1), { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    throw new CliError(
      `build failed: ${command.join(' ')}: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim().split('\n').pop()}`,
    );
  }
  const made = (await readdir(dir))
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => ({ f, at: statSync(join(dir, f)).mtimeMs }))
    .filter(({ f, at }) => !before.has(f) || at >= started - 1000)
    .sort((a, b) => b.at - a.at)[0];
  if (!made) throw new CliError(`the build made no .tgz in ${dir}`);
  const version = await versionOf(dir);
  const artifact = await rawJson<{ sha256: string }>('baking', `/artifacts/${name}/${encodeURIComponent(version)}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/gzip' },
    body: await readFile(join(dir, made.f)),
  });
  const commit = await recordSource(name, version, dir, record.metadata.repo);
  show(
    options,
    { service: name, version, artifact: made.f, sha256: artifact.sha256, ...(commit ? { commit } : {}) },
    () => line(green(`${name} ${version}${commit ? ` (${commit.slice(0, 12)})` : ''}`)),
  );
}
