import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform, stopChild, type Platform } from '@slipway/platform';
import { eventually, EXAMPLE_SERVICE_DIR, freePortBase, gitRepo } from '@slipway/test-utils';
import { cli, plain, type Run } from './slipway.js';
import { cuttingProxy } from './cutting-proxy.js';

// Issue 18's first day with slipway, through the built binary against a platform of its own.
let home: string;
let portBase: number;
let platform: Platform;
let run: ReturnType<typeof cli>;
const work: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-day-one-'));
  work.push(home);
  portBase = await freePortBase(82);
  // The service's source comes from a repository on this disk (file://): the operator allows that here.
  platform = await startPlatform({ home, portBase, env: { SLIPWAY_ALLOW_PRIVATE_URLS: 'true' } });
  const config = await mkdtemp(join(tmpdir(), 'slipway-login-'));
  work.push(config);
  run = cli({ SLIPWAY_HOME: home, SLIPWAY_URL: `http://127.0.0.1:${portBase}`, XDG_CONFIG_HOME: config });
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  for (const dir of work) await rm(dir, { recursive: true, force: true });
});

const slipway = (...args: string[]) => run.slipway(args);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The platform's redis-server stopped for about `ms`, then started again, as a blip of a managed Redis. */
async function redisOutage(ms: number): Promise<void> {
  const redis = platform.processes.find((p) => p.name === 'redis')!;
  redis.hold();
  await stopChild(redis.child);
  await sleep(ms);
  redis.resume();
}
const lastLine = (text: string) => text.trim().split('\n').pop()!.trim();

async function checkout(version: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `search-${version}-`));
  work.push(dir);
  await cp(EXAMPLE_SERVICE_DIR, dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ ...manifest, version }));
  return dir;
}

describe('help (item 6)', () => {
  it('says --version, examples and --json for every command, the options that apply, and cancel vs rollback vs undo', async () => {
    expect((await slipway('--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const deploy = await slipway('help', 'deploy');
    expect(deploy.stdout).toMatch(/Examples:\n {2}\$ slipway deploy search prod 1\.4\.0/);
    expect(deploy.stdout).toMatch(/--json/);
    expect(deploy.stdout).toMatch(/-m, --message <message> +why \(required/);
    expect(deploy.stdout).toMatch(
      /cancel +a running deployment[\s\S]*rollback[\s\S]*undo +after a deployment finished/,
    );
    const infra = await slipway('infra', '--help');
    expect(infra.stdout).toMatch(/plan \[options\] <stack> +compare/);
    expect(infra.stdout).toMatch(/apply <plan> +make a plan real/);
    expect(infra.stdout).toMatch(/drift <stack> +what changed outside Slipway/);
    expect((await slipway('config', 'show', '--help')).stdout).not.toMatch(/--from/);
    expect((await slipway('config', 'diff', '--help')).stdout).toMatch(/--from <ref> +the older ref \(required\)/);
    for (const command of [
      'status',
      'history',
      'images',
      'undo',
      'bakes list',
      'services add',
      'services set',
      'login',
    ])
      expect((await slipway(...command.split(' '), '--help')).stdout).toMatch(/Examples:[\s\S]*--json/);
  });
});

describe('the registry and config, in words (items 4, 5, 7, 8)', () => {
  it('sets several properties as one revision, records nothing for no change, and shows history as a diff', async () => {
    expect((await slipway('services', 'add', 'search', 'owner=team-search', 'replicas=3')).code).toBe(0);
    // A typo of a registered name registers nothing: the nearest name, and how to register a new one.
    expect(await slipway('services', 'set', 'serach', 'owner=x')).toMatchObject({
      code: 1,
      stderr:
        'slipway: there is no service serach; did you mean search? To register a new one: slipway services add serach owner=x\n',
    });
    const set = await slipway('services', 'set', 'search', 'owner=team-search', 'contact=a@example.com', 'replicas=4');
    expect(set.stdout).toBe('search revision 2\n  + contact=a@example.com\n  ~ replicas: 3 → 4\n');
    expect(await slipway('services', 'set', 'search', 'replicas=4')).toMatchObject({
      code: 0,
      stdout: 'search: nothing changed\n',
    });
    const history = await slipway('services', 'history', 'search');
    expect(history.stdout).toMatch(
      /^revision 2 .* by admin\n {2}\+ contact=a@example.com\n {2}~ replicas: 3 → 4\nrevision 1 .*\n {2}\+ owner=team-search\n {2}\+ replicas=3\n$/,
    );
  });

  it('refuses a sync set named like an environment, naming both, and stores nothing', async () => {
    const clash = await slipway('services', 'set', 'search', 'clusters={"prod":["prod-a","prod-b"]}');
    expect(clash).toMatchObject({
      code: 1,
      stderr:
        'slipway: not stored: prod is both a sync set of search (prod-a, prod-b) and an environment of it (the configuration search-prod): give the set another name\n',
    });
    const member = await slipway('services', 'set', 'search', 'clusters={"prod-a":["prod-a","prod-b"]}');
    expect(member.stderr).toMatch(/prod-a is both a sync set of search .* and an environment of it/);
    expect(
      JSON.parse((await slipway('--json', 'services', 'show', 'search')).stdout).metadata.clusters,
    ).toBeUndefined();
  });

  it('says an unknown service or environment does not exist, with the nearest name, exit 1', async () => {
    for (const args of [
      ['status', 'nosuch', 'prod'],
      ['history', 'nosuch', 'prod'],
      ['images', 'nosuch'],
      ['undo', 'nosuch', 'prod', '-m', 'x'],
    ])
      expect(await slipway(...args)).toMatchObject({
        code: 1,
        stderr: 'slipway: there is no service nosuch (slipway services list)\n',
      });
    expect((await slipway('history', 'serch')).stderr).toBe(
      'slipway: there is no service serch; did you mean search? (slipway services list)\n',
    );
    expect((await slipway('status', 'search', 'prood')).stderr).toBe(
      'slipway: search has no environment prood; did you mean prod? (it has prod, prod-a, prod-b, prod-c, staging)\n',
    );
  });

  it("answers in the CLI's words: no API paths or patterns, the URL and variable it tried, usage errors exit 2", async () => {
    const bad = await slipway('watch', 'nope');
    expect(bad).toMatchObject({
      code: 2,
      stderr:
        'slipway: "nope" is neither a deployment nor a release id: they look like dep-abc123 (slipway history) or rel-abc123 (slipway releases)\n',
    });
    expect(await slipway('config', 'diff', 'search', 'prod')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--from is required/),
    });
    expect((await slipway('services', 'set', 'Bad-Name', 'a=1')).code).toBe(2);
    expect(await slipway('deploy', 'search', 'prod', '1.0.0')).toMatchObject({
      code: 2,
      stderr: 'slipway: missing -m MESSAGE (why: the deployment message)\n',
    });
    // Checked before any service is asked: a sync set's release answered only "image is not valid".
    expect(await slipway('deploy', 'search', 'prod', 'img-../../etc', '-m', 'x')).toMatchObject({
      code: 2,
      stderr:
        'slipway: "img-../../etc" is not an image id: img-… or ami-… then letters, digits, dots, underscores or hyphens, 128 at most\n',
    });
    expect(await slipway('status', 'search', 'Prod_A')).toMatchObject({
      code: 2,
      stderr: 'slipway: "Prod_A" is not an environment name: lowercase letters, digits and inner hyphens, 1 to 32\n',
    });
    expect((await slipway('status', 'search', 'prod-a')).code).toBe(0); // a cluster's name has a hyphen
    const artifact = await slipway('bake', 'search', '9.9.9');
    expect(artifact.stderr).toBe('slipway: no artifact search 9.9.9: upload it first (slipway build search)\n');
    const away = await run.slipway(['status'], { env: { SLIPWAY_URL: 'http://127.0.0.1:1' } });
    expect(away.stderr).toMatch(
      /^slipway: cannot reach the orchestrator service at http:\/\/127\.0\.0\.1:6 \(SLIPWAY_URL \+ 5\)/,
    );
    for (const r of [bad, artifact, away])
      expect(r.stderr).not.toMatch(/\/path\/|must match pattern|(PUT|POST|GET) \//);
  });

  it('prints a config diff as + key=value, - key, ~ key: old → new, unless --json', async () => {
    const repo = join(home, 'config-repos', 'search-prod.git');
    const first = execFileSync('git', ['-C', repo, 'rev-list', '--max-parents=0', 'HEAD'], { encoding: 'utf8' }).trim();
    const diff = await slipway('config', 'diff', 'search', 'prod', '--from', first);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/application-properties\.json\n {2}\+ search\.highlight=true\n/);
    expect(diff.stdout).toMatch(/~ search\.resultsPerPage: 10 → 20/);
    expect(diff.stdout).toMatch(/launch-data\.json\n {2}\+ mkdir -p cache/);
    expect(
      JSON.parse((await slipway('--json', 'config', 'diff', 'search', 'prod', '--from', first)).stdout).files,
    ).toBeDefined();
    expect((await slipway('config', 'diff', 'search', 'prod', '--from', first, '--to', first)).stdout).toMatch(
      /no change\n$/,
    );
  });

  it('config show exits 1 on an invalid file; a repository whose HEAD moved from master to main works after a refresh', async () => {
    // search's qa configuration: a repository on master whose deployment-params.json is not valid.
    const qa = join(home, 'config-repos', 'search-qa.git');
    execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=master', qa]);
    const source = await gitRepo({});
    work.push(source.dir);
    await source.git('remote', 'add', 'origin', qa);
    await source.git('fetch', '--quiet', join(home, 'config-repos', 'search-prod.git'), 'main');
    await source.git('reset', '--quiet', '--hard', 'FETCH_HEAD');
    await source.git('checkout', '--quiet', '-b', 'master');
    const params = await readFile(join(source.dir, 'deployment-params.json'), 'utf8');
    await source.commit({ 'deployment-params.json': { capacity: 'lots' } }, 'Not valid');
    await source.git('push', '--quiet', 'origin', 'master');
    const invalid = await slipway('config', 'show', 'search', 'qa');
    expect(invalid).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^slipway: search qa at \w{12} is not valid/),
    });
    expect(invalid.stdout).toMatch(/invalid: deployment-params\.json/);
    // The host's default branch becomes main, with the file fixed; master is deleted.
    await source.git('checkout', '--quiet', '-B', 'main');
    await source.commit({ 'deployment-params.json': params }, 'Valid again');
    await source.git('push', '--quiet', 'origin', 'main');
    execFileSync('git', ['-C', qa, 'symbolic-ref', 'HEAD', 'refs/heads/main']);
    await source.git('push', '--quiet', 'origin', ':master');
    const refreshed = await fetch(`${platform.urls.config}/refresh`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ service: 'search', env: 'qa' }),
    });
    expect(refreshed.status).toBe(200);
    const shown = await slipway('config', 'show', 'search', 'qa');
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.stdout).toMatch(/^search qa at \w{12} — Valid again \(Test Author\)\n/);
  });

  it('login checks the token before storing it, a refused token says where it came from, logout removes it', async () => {
    const refused = await run.slipway(['login', 'not-a-token']);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/refused this token: nothing stored/) });
    const good = await run.slipway(['login', platform.adminToken]);
    expect(good.stdout).toMatch(/^token accepted and stored in (.*)\n/);
    const stored = /stored in (\S+)/.exec(good.stdout)![1]!;
    expect((await readFile(stored, 'utf8')).trim()).toBe(platform.adminToken);
    const wrong = await run.slipway(['status'], { env: { SLIPWAY_TOKEN: 'wrong' } });
    expect(wrong.stderr).toMatch(/^slipway: the token from SLIPWAY_TOKEN was refused/);
    expect((await slipway('logout')).stdout).toBe(`removed ${stored}\n`);
    expect(existsSync(stored)).toBe(false);
  });
});

let cancelledGroup = '';

describe('build, bake and deploy (items 1, 2, 3, 7, 9; issue 15 item 8)', () => {
  const bakes: Record<string, string> = {};

  it('builds the same source twice without a complaint, and says to make a new version when it changed', async () => {
    const dir = await checkout('1.0.0');
    expect((await slipway('build', 'search', '--dir', dir)).stdout).toBe('search 1.0.0\n');
    expect((await slipway('build', 'search', '--dir', dir)).stdout).toBe(
      'search 1.0.0 (already stored, the same content)\n',
    );
    await writeFile(join(dir, 'index.js'), '// changed\n', { flag: 'a' });
    const changed = await slipway('build', 'search', '--dir', dir);
    expect(changed).toMatchObject({ code: 1 });
    expect(changed.stderr).toMatch(
      /search 1\.0\.0 is already stored, built from other source.*new version .*e\.g\. 1\.0\.1/,
    );
    // A checkout with no origin (issue 23 item 11): the build says no repository is known, and how to set one.
    const noOrigin = await gitRepo({}, { dir: await checkout('1.1.0') });
    await noOrigin.commit({}, 'Search 1.1.0');
    const unknown = await slipway('build', 'search', '--dir', noOrigin.dir);
    expect(unknown).toMatchObject({ code: 0, stdout: expect.stringMatching(/^search 1\.1\.0 \([0-9a-f]{12}\)\n$/) });
    expect(unknown.stderr).toBe(
      `slipway: no repository is known for search (no "repo" metadata, no git remote "origin" in ${noOrigin.dir}): ` +
        '1.1.0 is recorded with its commit only, so slipway revert cannot tell which releases contain a commit. ' +
        'Set one: slipway services set search repo=<url> (or git remote add origin <url>)\n',
    );
  }, 60_000);

  it('Ctrl-C of a followed bake says it keeps running and how to follow it; bakes list and watch it', async () => {
    // Ctrl-C the moment the bake's id is printed (it is printed once Ctrl-C is answered).
    const interrupted = await run.slipway(['bake', 'base'], {
      started: (child, r) =>
        child.stdout!.on('data', () => {
          if (/bake-[0-9a-f]{12}: baking/.test(r.stdout) && !child.killed) child.kill('SIGINT');
        }),
    });
    const id = /(bake-[0-9a-f]{12})/.exec(interrupted.stdout)![1]!;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(
      new RegExp(`Bake ${id} keeps running\\. Follow it again: slipway bakes watch ${id}`),
    );
    expect((await slipway('bakes')).stdout).toMatch(new RegExp(`${id} +base`));
    expect(lastLine((await slipway('bakes', 'watch', id)).stdout)).toMatch(/^img-/);
    bakes.v1 = lastLine((await slipway('bake', 'search', '1.0.0')).stdout);
    bakes.v2 = lastLine((await slipway('bake', 'search', '1.1.0')).stdout);
    expect(bakes).toEqual({ v1: expect.stringMatching(/^img-/), v2: expect.stringMatching(/^img-/) });
  }, 120_000);

  it('deploys by version; a first deploy skips the drain; the same image and config again needs --force', async () => {
    const plan = JSON.parse((await slipway('--json', 'infra', 'plan', 'search')).stdout) as { id: string };
    expect((await slipway('infra', 'apply', plan.id)).code).toBe(0);
    const first = await slipway('deploy', 'search', 'prod', '1.0.0', '-m', 'first', '--burn-in', '1');
    expect(first.stderr + first.stdout).toMatch(/succeeded\n$/);
    expect(first.stdout).toMatch(new RegExp(`search prod ← ${bakes.v1} \\(1\\.0\\.0\\)`));
    expect(first.stdout).toMatch(/✓ wait-for-drain .* no old group: nothing to drain/);
    expect(first.stderr).toMatch(
      /version +nothing → img-\w+ \(1\.0\.0\)\n {2}config +none → [0-9a-f]{12}\n {2}instances 0 → 2/,
    );
    const again = await slipway('deploy', 'search', 'prod', '1.0.0', '-m', 'again');
    expect(again).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/already runs this image and config: add --force/),
    });
  }, 90_000);

  it('offers images with version, age and where they serve; production asks before acting, on a terminal only', async () => {
    expect((await slipway('services', 'set', 'search', 'production=prod')).code).toBe(0);
    const chosen = await run.onTerminal(['deploy', 'search', 'prod', '-m', 'pick'], (screen) =>
      /Which image/.test(screen) ? '\u0003' : undefined,
    );
    const screen = plain(chosen.stdout);
    expect(screen).toMatch(new RegExp(`❯ ${bakes.v2} +1\\.1\\.0 +\\d+ (s|min) ago`));
    expect(screen).toMatch(new RegExp(`${bakes.v1} +1\\.0\\.0 +\\d+ (s|min) ago +serving in prod now`));
    const asked = await run.onTerminal(['deploy', 'search', 'prod', '1.1.0', '-m', 'no'], (s) =>
      /search prod is production: deploy 1\.0\.0 → 1\.1\.0\?/.test(plain(s)) ? 'n\r' : undefined,
    );
    expect(plain(asked.stdout)).toMatch(/version +img-\w+ \(1\.0\.0\) → img-\w+ \(1\.1\.0\)[\s\S]*nothing done/);
    // The same config commit is said as unchanged, not as "X → X" (issue 23 item 13).
    expect(plain(asked.stdout)).toMatch(/\n {2}config +unchanged \([0-9a-f]{12}\)\r?\n/);
    expect(asked.code).toBe(1);
    // Without a terminal nothing is asked: a production change is a usage error naming --yes, and nothing moves.
    const script = await slipway('deploy', 'search', 'prod', '1.1.0', '-m', 'from a script');
    expect(script).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /version +img-\w+ \(1\.0\.0\) → img-\w+ \(1\.1\.0\)[\s\S]*slipway: search prod is production: deploy img-\w+ \(1\.0\.0\) → img-\w+ \(1\.1\.0\): nothing is asked without a terminal; add --yes to confirm it\n$/,
      ),
    });
    expect(JSON.parse((await slipway('--json', 'history', 'search', 'prod')).stdout).items).toHaveLength(1);
  }, 60_000);

  it('pause says when it takes effect; Ctrl-C of a follow says it keeps running; watch shows the pause; --queue in words', async () => {
    let id = '';
    let pausing: Promise<Run> | undefined;
    // The pause is asked and the follow interrupted at once, while the burn-in runs: a pause that
    // took effect before the Ctrl-C (a slow machine) would end the follow first, as a pause.
    const follow = await run.slipway(['deploy', 'search', 'prod', '1.1.0', '-m', 'second', '--burn-in', '6', '--yes'], {
      started: (child, r) => {
        const poll = setInterval(() => {
          id ||= /(dep-[0-9a-z]+):/.exec(r.stdout)?.[1] ?? '';
          if (id && /▸ burn-in/.test(r.stdout) && !pausing) {
            clearInterval(poll);
            pausing = slipway('pause', id);
            child.kill('SIGINT');
          }
        }, 50);
      },
    });
    const paused = await pausing!;
    expect([follow.code, follow.stderr]).toEqual([130, expect.stringMatching(/keeps running/)]);
    expect(follow.stderr).toMatch(new RegExp(`Deployment ${id} keeps running\\. Follow it again: slipway watch ${id}`));
    expect(paused.stdout).toMatch(new RegExp(`^${id} pauses after burn-in, in about \\d+ s`));
    const busy = await slipway('deploy', 'search', 'prod', '1.0.0', '-m', 'meanwhile', '--force', '--yes');
    expect(busy.stderr).toMatch(/--queue/);
    expect(busy.stderr).not.toMatch(/"queue"/);
    // A second pause says it is asked already (issue 23 item 13); following a paused deployment is
    // not a success (help: exit 0 only on success), and says so.
    expect((await slipway('pause', id)).stdout).toMatch(
      new RegExp(`^${id}(: a pause is asked already \\(by admin\\); it pauses after burn-in| is paused already)`),
    );
    const watched = await slipway('watch', id);
    expect(watched.stdout).toMatch(new RegExp(`paused after burn-in: slipway resume ${id}`));
    expect(watched).toMatchObject({
      code: 1,
      stderr: `slipway: ${id} is paused, not finished: slipway resume ${id}, then slipway watch ${id}\n`,
    });
    expect((await slipway('pause', id)).stdout).toBe(`${id} is paused already: slipway resume ${id}\n`);
    expect((await slipway('resume', id)).code).toBe(0);
    const resumed = await slipway('watch', id);
    expect(lastLine(resumed.stdout)).toMatch(/succeeded$/);
    // What the traffic said, where people look: no requests here, so the probes judged alone.
    expect(plain(resumed.stdout)).toMatch(
      /✓ burn-in .*; traffic: new 0\/0 errors, old 0\/0: not enough traffic to judge \(200 requests each needed\); judged by the health checks alone/,
    );
  }, 90_000);

  it('undo says what it deploys first; status and history show version, outcome, time taken, who, and the undo', async () => {
    // Production: without a terminal, only with --yes (what the orchestrator says undo deploys is shown first).
    const unconfirmed = await slipway('undo', 'search', 'prod', '-m', 'back');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(
      /^search prod:\n {2}version +img-\w+ \(1\.1\.0\) → img-\w+ \(1\.0\.0\) a downgrade\n[\s\S]*slipway: search prod is production: undo img-\w+ \(1\.1\.0\) → img-\w+ \(1\.0\.0\), a downgrade: nothing is asked without a terminal; add --yes to confirm it\n$/,
    );
    const undone = await slipway('undo', 'search', 'prod', '-m', 'back', '--yes');
    expect(undone.stderr).toMatch(/version +img-\w+ \(1\.1\.0\) → img-\w+ \(1\.0\.0\)/);
    expect(undone.stdout).toMatch(new RegExp(`undo search prod → ${bakes.v1} \\(1\\.0\\.0\\), config [0-9a-f]{12}`));
    expect(undone.code).toBe(0);
    const history = await slipway('history', 'search', 'prod');
    expect(history.stdout).toMatch(/VERSION +SOURCE +OUTCOME +STARTED +TOOK +WHO +WHY/);
    expect(history.stdout).toMatch(
      /search +prod +1\.0\.0 +(?:[0-9a-f]{7}|-) +succeeded \(undo\) +\S+ \S+ +\d+ s +admin +back \(undo of dep-/,
    );
    expect(history.stdout).toMatch(/1\.1\.0 +[0-9a-f]{12} +succeeded +\S+ \S+ +\d+ s +admin +second/);
    const status = await slipway('status', 'search');
    expect(status.stdout).toMatch(/search +prod +1\.0\.0 +img-\w+ +2\/2 +succeeded \(undo\) .* by admin/);
    const one = await slipway('status', 'search', 'prod');
    expect(one.stdout).toMatch(/in service 1\.0\.0/);
    expect(one.stdout).toMatch(/last deployment: dep-\w+ succeeded \(undo\) \d+ s/);
  }, 90_000);

  it('cancels a deployment whose group was made; the name of that group is not given to the next one', async () => {
    const started = await slipway('deploy', 'search', 'prod', '1.1.0', '-m', 'to cancel', '--yes', '--no-wait');
    const id = started.stdout.trim();
    const get = async () =>
      (await (
        await fetch(`${platform.urls.orchestrator}/deployments/${id}`, {
          headers: { Authorization: `Bearer ${platform.adminToken}` },
        })
      ).json()) as { state: string; actions: { name: string; state: string }[]; context: { group?: string } };
    await eventually(
      get,
      (d) => d.actions.some((a) => a.name === 'create-server-group' && a.state === 'done'),
      'its group',
    );
    expect((await slipway('cancel', id)).code).toBe(0);
    const done = await eventually(get, (d) => d.state === 'cancelled' || d.state === 'failed', 'the cancel');
    expect(done.state).toBe('cancelled');
    cancelledGroup = done.context.group!;
    expect(cancelledGroup).toMatch(/^search-prod-v\d{3}$/);
  }, 60_000);

  it('fails a version whose instances crash on start in seconds, with the end of their log, and leaves no dead folders (issue 23 item 9)', async () => {
    const dir = await checkout('1.4.0');
    await writeFile(join(dir, 'index.js'), "require('./no-such-module');\n");
    expect((await slipway('build', 'search', '--dir', dir)).code).toBe(0);
    expect((await slipway('bake', 'search', '1.4.0')).code).toBe(0);
    const crashed = await slipway('deploy', 'search', 'staging', '1.4.0', '-m', 'crashes on start');
    expect(crashed.code).toBe(1);
    expect(crashed.stderr).toMatch(
      /\nslipway: dep-\w+ failed: wait-for-instances?-(?:running|health): \d instances of search-staging-v001 exited before they were healthy \(the last, i-\d+: exit code 1\); the end of its log:\nError: Cannot find module '\.\/no-such-module'\n/,
    );
    expect(crashed.stderr.length).toBeLessThan(3000);
    // Only the instances the local cloud runs now have a folder: the dead ones' are gone.
    const state = JSON.parse(await readFile(join(home, 'cloud', 'state.json'), 'utf8')) as {
      serverGroups: Record<string, { instances: Record<string, unknown> }>;
    };
    const live = Object.values(state.serverGroups).flatMap((g) => Object.keys(g.instances));
    expect((await readdir(join(home, 'cloud', 'instances'))).filter((f) => !live.includes(f))).toEqual([]);
  }, 60_000);

  it('ends quietly when the reader of its output goes away (| head -1)', async () => {
    for (let i = 0; i < 5; i++) {
      const piped = await run.piped(['history', 'search', 'prod'], 'head -1');
      expect({ stderr: piped.stderr, line: piped.stdout.split('\n').length }).toEqual({ stderr: '', line: 2 });
    }
  }, 60_000); // five whole CLI runs: on a busy 2-core machine each took up to 3 s
});

describe('what changed, by commit (issue 17)', () => {
  const commits = { v120: '', fix: '', v130: '' };
  const short = (commit: string) => commit.slice(0, 12);
  const version = async () =>
    ((await (await fetch(`http://127.0.0.1:${portBase + 80}/`)).json()) as { version: string }).version;
  const deploymentsOf = async () =>
    (JSON.parse((await slipway('--json', 'history', 'search', 'prod')).stdout) as { items: { id: string }[] }).items;

  it("build records the checkout's commit; deploy --dry-run prints the commits and config keys between, and deploys nothing", async () => {
    // The service's source: a checkout whose origin is a repository on this disk.
    const origin = await mkdtemp(join(tmpdir(), 'search-origin-'));
    work.push(origin);
    execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', origin]);
    const source = await gitRepo({}, { dir: await checkout('1.2.0') });
    await source.git('remote', 'add', 'origin', origin);
    commits.v120 = await source.commit({}, 'Search 1.2.0');
    await source.git('push', '--quiet', 'origin', 'main');
    expect((await slipway('build', 'search', '--dir', source.dir)).stdout).toBe(
      `search 1.2.0 (${short(commits.v120)})\n`,
    );
    commits.fix = await source.commit({ 'CHANGES.md': 'Highlight the query terms\n' }, 'Highlight the query terms');
    const manifest = JSON.parse(await readFile(join(source.dir, 'package.json'), 'utf8'));
    commits.v130 = await source.commit({ 'package.json': { ...manifest, version: '1.3.0' } }, 'Search 1.3.0');
    await source.git('push', '--quiet', 'origin', 'main');
    expect((await slipway('build', 'search', '--dir', source.dir)).code).toBe(0);
    for (const v of ['1.2.0', '1.3.0']) expect((await slipway('bake', 'search', v)).code).toBe(0);
    // Redis goes away for a second while the deploy is followed (issue 23 item 7): slipway says the
    // deployment keeps running, tries again, and exits 0 with it.
    let outage: Promise<void> | undefined;
    const deployed = await run.slipway(
      ['deploy', 'search', 'prod', '1.2.0', '-m', 'from Git', '--burn-in', '1', '--yes'],
      {
        started: (child, r) =>
          child.stdout!.on('data', () => {
            if (!outage && /▸ wait-for-instance-health/.test(r.stdout)) outage = redisOutage(1000);
          }),
      },
    );
    await outage;
    expect(deployed).toMatchObject({ code: 0, stderr: expect.stringMatching(/the deployment keeps running/) });
    expect(deployed.stdout).toMatch(/succeeded\n$/);
    // A name a recent group had (the cancelled one's) is not used again: on AWS a group being deleted holds it.
    const [fromGit] = JSON.parse((await slipway('--json', 'history', 'search', 'prod')).stdout).items as {
      context: { group: string };
    }[];
    expect(fromGit!.context.group).not.toBe(cancelledGroup);
    expect(fromGit!.context.group > cancelledGroup).toBe(true);

    // A config change waiting in the repository since: resultsPerPage 20 → 30.
    const config = await mkdtemp(join(tmpdir(), 'search-prod-config-'));
    work.push(config);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=Tester', '-c', 'user.email=tester@example.com', ...args], { cwd: config });
    git('clone', '--quiet', join(home, 'config-repos', 'search-prod.git'), '.');
    const properties = JSON.parse(await readFile(join(config, 'application-properties.json'), 'utf8'));
    const changed = { ...properties, search: { ...properties.search, resultsPerPage: 30 } };
    await writeFile(join(config, 'application-properties.json'), JSON.stringify(changed, null, 2));
    git('commit', '--quiet', '-am', 'Thirty results a page');
    git('push', '--quiet', 'origin', 'HEAD');
    // No refresh asked: what is read right after a push is the pushed commit (issue 23 item 13).

    const before = await deploymentsOf();
    const dry = await slipway('deploy', 'search', 'prod', '1.3.0', '-m', 'only looking', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(
        `^Would deploy \\(nothing is deployed: --dry-run\\):\\n` +
          `search prod: img-\\w+ \\(1\\.2\\.0 @ ${short(commits.v120)}\\), config \\w{12} → img-\\w+ \\(1\\.3\\.0 @ ${short(commits.v130)}\\), config \\w{12}\\n` +
          ` {2}${short(commits.v130)} Search 1\\.3\\.0 Test Author, passed\\n` +
          ` {2}${short(commits.fix)} Highlight the query terms Test Author\\n` +
          ` {2}config ~ application-properties\\.json: search\\.resultsPerPage\\n$`,
      ),
    );
    expect(await deploymentsOf()).toEqual(before);
    expect(await version()).toBe('1.2.0');
  }, 120_000);

  it("history --commits lists each deployment's commits and config keys; revert goes back to the newest release without a commit", async () => {
    // Followed through a proxy that cuts the event stream every 3 events (issue 27): slipway picks it
    // up where it was cut (Last-Event-ID), says each action once, and exits 0 as the deployment succeeds.
    const proxy = await cuttingProxy(platform.urls.orchestrator!);
    try {
      const cut = await run.slipway(
        ['deploy', 'search', 'prod', '1.3.0', '-m', 'highlighting', '--burn-in', '1', '--yes'],
        { env: { SLIPWAY_ORCHESTRATOR_URL: proxy.url }, killAfterMs: 120_000 },
      );
      if (cut.code !== 0) throw new Error(`the followed deploy: ${JSON.stringify({ ...cut, ...proxy }, null, 2)}`);
      expect(cut).toMatchObject({ code: 0, stderr: expect.stringMatching(/event stream was cut; trying again/) });
      expect(proxy.cuts).toBeGreaterThan(1);
      expect(proxy.asked[0]).toBe('');
      expect(proxy.asked.slice(1)).toEqual(proxy.asked.slice(1).map(() => expect.stringMatching(/^\d+-\d+$/)));
      const done = cut.stdout.match(/✓ [a-z-]+/g) ?? [];
      expect(done).toEqual([...new Set(done)]);
      expect(done).toEqual(expect.arrayContaining(['✓ burn-in', '✓ record']));
      expect(cut.stdout).toMatch(/succeeded\n$/);
    } finally {
      await proxy.close();
    }
    // Running 1.3.0, which holds the fix: going back past the first commit has nowhere to go.
    // 1.1.0 was built from a checkout without a repository, 1.0.0 reported no build: revert says it cannot tell for them.
    expect((await slipway('revert', 'search', 'prod', commits.v120)).stderr).toBe(
      `slipway: no earlier release of search prod is known to be without ${short(commits.v120)}; Slipway cannot tell for 1.0.0, 1.1.0: ` +
        "no build with a repository was reported for them (set the service's repo metadata, slipway services set search repo=<url>, and build again)\n",
    );

    // Production: a revert is confirmed too (--yes without a terminal), after what it deploys is shown.
    const unconfirmed = await slipway('revert', 'search', 'prod', short(commits.fix), '-m', 'highlighting is slow');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(
      /version +img-\w+ \(1\.3\.0\) → img-\w+ \(1\.2\.0\) a downgrade[\s\S]*search prod is production: revert to img-\w+ \(1\.3\.0\) → img-\w+ \(1\.2\.0\), a downgrade: nothing is asked without a terminal; add --yes/,
    );
    expect(await version()).toBe('1.3.0');
    const reverted = await slipway(
      'revert',
      'search',
      'prod',
      short(commits.fix),
      '-m',
      'highlighting is slow',
      '--yes',
    );
    expect(reverted.code).toBe(0);
    expect(reverted.stdout).toMatch(
      new RegExp(`^dep-\\w+: search prod back to 1\\.2\\.0 \\(img-\\w+\\), without ${short(commits.fix)}\\n`),
    );
    expect(await version()).toBe('1.2.0');
    const [revert, forward] = JSON.parse((await slipway('--json', 'history', 'search', 'prod')).stdout).items as {
      id: string;
      message: string;
      undoOf?: string;
      revertsCommit?: string;
    }[];
    expect(revert).toMatchObject({
      message: `revert ${short(commits.fix)} (back to 1.2.0): highlighting is slow`,
      revertsCommit: commits.fix,
      undoOf: forward!.id,
    });
    expect((await slipway('revert', 'search', 'prod', commits.v130)).stderr).toMatch(
      /search prod runs 1\.2\.0, which does not contain \w+: nothing to revert/,
    );

    const history = await slipway('history', 'search', 'prod', '--commits');
    expect(history.code).toBe(0);
    const entries = history.stdout.split(/^(?=dep-)/m);
    expect(entries[0]).toMatch(new RegExp(`^${revert!.id} succeeded .* admin: revert `));
    expect(entries[0]).toMatch(
      new RegExp(`\\n {4}- ${short(commits.v130)} Search 1\\.3\\.0 .*\\n {4}- ${short(commits.fix)} `),
    );
    expect(entries[1]).toMatch(new RegExp(`^${forward!.id} succeeded .* admin: highlighting\\n`));
    expect(entries[1]).toMatch(
      new RegExp(
        `\\n {4}${short(commits.v130)} Search 1\\.3\\.0 .*\\n {4}${short(commits.fix)} Highlight the query terms`,
      ),
    );
    expect(entries[1]).toContain('config ~ application-properties.json: search.resultsPerPage');
    expect(entries[2]).toMatch(new RegExp(`admin: from Git\\n.*\\n {4}${short(commits.v120)} Search 1\\.2\\.0`));
  }, 180_000);
});

describe('npm start on a home or ports already in use (issue 23 item 10)', () => {
  /** `npm start` past its setup step: the platform's own start script, stopped after 60 s if it keeps running. */
  const npmStart = (env: NodeJS.ProcessEnv) =>
    new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, ['packages/platform/dist/start.js'], {
        env: { ...process.env, REDIS_URL: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const run: Run = { code: null, stdout: '', stderr: '' };
      child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
      // Only before the fix did it keep running (it started a second platform); a busy machine may take seconds to refuse.
      const timer = setTimeout(() => child.kill('SIGINT'), 60_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ ...run, code });
      });
    });

  it('refuses a second platform on the same home, naming its pid, and touches none of its files', async () => {
    const tokens = await readFile(join(home, 'tokens.json'), 'utf8');
    const second = await npmStart({ SLIPWAY_HOME: home, SLIPWAY_PORT_BASE: String(await freePortBase(11)) });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `Slipway did not start: Slipway is already running on ${home}, pid ${process.pid} (ports from ${portBase}): stop it first, or set SLIPWAY_HOME to another directory\n`,
    );
    expect(second.stdout).not.toMatch(/Ready/);
    expect(await readFile(join(home, 'tokens.json'), 'utf8')).toBe(tokens);
  }, 90_000);

  it('names the port in use and the variable that moves it, in one line', async () => {
    const other = await mkdtemp(join(tmpdir(), 'slipway-second-'));
    work.push(other);
    const taken = await npmStart({ SLIPWAY_HOME: other, SLIPWAY_PORT_BASE: String(portBase) });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(
      `Slipway did not start: port ${portBase + 9} (its Redis's, SLIPWAY_PORT_BASE ${portBase} + 9) is in use: set SLIPWAY_PORT_BASE to another base (every port is base + an offset)\n`,
    );
  }, 90_000);
});
