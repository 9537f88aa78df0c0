/**
 * The example repositories `npm start` serves when SLIPWAY_CONFIG_REPO_URL and
 * SLIPWAY_INFRA_REPO_URL are not set: each numbered folder of examples/config/<service>-<env>/
 * and of examples/infra/ becomes one commit, in order, of a bare repository under
 * $SLIPWAY_HOME. Made once; after that they are yours to change.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Slipway examples',
  GIT_AUTHOR_EMAIL: 'examples@slipway.invalid',
  GIT_COMMITTER_NAME: 'Slipway examples',
  GIT_COMMITTER_EMAIL: 'examples@slipway.invalid',
};

/** Makes the example repositories that do not exist yet; answers the URL template for them. */
export async function ensureExampleConfigRepos(examplesDir: string, home: string): Promise<string> {
  const reposDir = join(home, 'config-repos');
  await mkdir(reposDir, { recursive: true });
  for (const name of await readdir(examplesDir)) {
    if (!/^[a-z0-9]+-[a-z0-9-]+$/.test(name)) continue;
    const bare = join(reposDir, `${name}.git`);
    if (existsSync(bare)) continue;
    await makeRepo(join(examplesDir, name), bare);
  }
  return `file://${reposDir}/{service}-{env}.git`;
}

/**
 * The example infrastructure repository. Its load balancer ports are written relative to the
 * port base (`port: 7180 # SLIPWAY_PORT_BASE + 80`), so two platforms on one machine do not clash.
 */
export async function ensureExampleInfraRepo(examplesDir: string, home: string, portBase: number): Promise<string> {
  const bare = join(home, 'infra-repo.git');
  if (!existsSync(bare)) {
    await makeRepo(examplesDir, bare, (text) =>
      text.replace(
        /^(\s*port:\s*)\d+(\s*# SLIPWAY_PORT_BASE \+ (\d+))$/gm,
        (_all, head: string, comment: string, offset: string) => `${head}${portBase + Number(offset)}${comment}`,
      ),
    );
  }
  return `file://${bare}`;
}

async function makeRepo(source: string, bare: string, rewrite?: (text: string) => string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'slipway-example-'));
  const git = (...args: string[]) => run('git', args, { cwd: work, env: { ...process.env, ...IDENTITY } });
  try {
    await git('init', '--quiet', '--initial-branch=main');
    const versions = (await readdir(source)).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(a) - Number(b));
    for (const version of versions) {
      const dir = join(source, version);
      for (const file of await readdir(dir)) {
        if (file !== '.message') await cp(join(dir, file), join(work, file), { recursive: true });
      }
      if (rewrite) {
        for (const file of await readdir(work, { recursive: true })) {
          if (!file.endsWith('.yaml')) continue;
          const text = await readFile(join(work, file), 'utf8');
          await writeFile(join(work, file), rewrite(text));
        }
      }
      const message = (await readFile(join(dir, '.message'), 'utf8').catch(() => `Version ${version}`)).trim();
      await git('add', '--all');
      await git('commit', '--quiet', '-m', message);
    }
    await run('git', ['clone', '--quiet', '--bare', work, bare]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
