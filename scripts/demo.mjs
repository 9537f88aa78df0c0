// `npm run demo`: against a running `npm start` (same SLIPWAY_HOME, and its SLIPWAY_PORT_BASE or SLIPWAY_URL), the
// seed's workflow with the slipway CLI, each command printed before it runs: register search,
// build and bake 1.0.0, plan and apply its infrastructure, deploy to prod, curl it through the
// load balancer, deploy 1.1.0 under load (no failed request), deploy a broken 1.2.0 (rolled
// back automatically), then undo; then the three prod clusters (prod-a, prod-b, prod-c) and a
// second service that depends on search (suggest): out of sync, one release in waves and in
// dependency order, in sync; last, slash commands from a local stand-in for Slack
// (scripts/demo-slack.mjs): answered at once, a deploy to staging and its undo each followed in
// one message (staging, so that Slack's part changes nothing in prod).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { slackDemo } from './demo-slack.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// The port base as the CLI reads it: SLIPWAY_PORT_BASE, else SLIPWAY_URL's (what `npm start` says to export).
const url = process.env.SLIPWAY_URL ? new URL(process.env.SLIPWAY_URL) : undefined;
const base = Number(process.env.SLIPWAY_PORT_BASE ?? (url?.port || 7100));
const env = { ...process.env, SLIPWAY_HOME: process.env.SLIPWAY_HOME ?? join(root, '.slipway') };
const lb = `http://${url?.hostname ?? '127.0.0.1'}:${base + 80}`;
const bold = (text) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\u001b[1m${text}\u001b[0m` : text);

/** Prints and runs `slipway …`, its output live; answers its stdout; stops the demo on an unexpected exit code. */
async function slipway(args, { expect = 0, quiet = false } = {}) {
  console.log(bold(`\n$ slipway ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`));
  const child = spawn(process.execPath, [join(root, 'packages/cli/bin/slipway.cjs'), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    out += chunk;
    if (!quiet) process.stdout.write(chunk);
  });
  const code = await new Promise((resolve) => child.once('close', resolve));
  if (code !== expect) {
    console.error(`demo stopped: slipway exited ${code}, expected ${expect}`);
    process.exit(1);
  }
  return out;
}

/**
 * The example service with a version (and a name) of its own, as a checkout would be. Its build
 * output (a .tgz left by the README's `npm pack`) is no source, and a file is rewritten only when
 * its content changes, so search 1.0.0 is byte for byte the example the README uploads.
 */
function checkout(version, unhealthyAfterSeconds = 0, name = 'search') {
  const dir = mkdtempSync(join(tmpdir(), `${name}-${version}-`));
  const example = join(root, 'examples/search');
  cpSync(example, dir, { recursive: true, filter: (path) => !path.endsWith('.tgz') });
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (manifest.version !== version || manifest.name !== name)
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ ...manifest, name, version }, null, 2)}\n`);
  const broken = JSON.parse(readFileSync(join(dir, 'broken.json'), 'utf8'));
  if (broken.unhealthyAfterSeconds !== unhealthyAfterSeconds)
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ unhealthyAfterSeconds }));
  // A Git checkout, so that `slipway build` reports its commit and the images and deployments carry
  // it; author and dates fixed, so the same source is the same commit in every run (no remote: the
  // baking service mirrors nothing off this machine).
  const who = { name: 'Slipway demo', email: 'demo@example.com', date: '2026-01-01T00:00:00Z' };
  const gitEnv = {
    ...process.env,
    ...Object.fromEntries(
      ['AUTHOR', 'COMMITTER'].flatMap((role) => [
        [`GIT_${role}_NAME`, who.name],
        [`GIT_${role}_EMAIL`, who.email],
        [`GIT_${role}_DATE`, who.date],
      ]),
    ),
  };
  for (const args of [
    ['init', '-q'],
    ['add', '-A'],
    ['commit', '-qm', `${name} ${version}`],
  ])
    execFileSync('git', args, { cwd: dir, env: gitEnv, stdio: 'ignore' });
  return dir;
}

async function curl() {
  console.log(bold(`\n$ curl ${lb}/`));
  console.log(await (await fetch(`${lb}/`)).text());
}

const bakeImage = async (version) => (await slipway(['bake', 'search', version])).trim().split('\n').pop().trim();

const dirs = [];
try {
  await slipway([
    'services',
    'add',
    'search',
    'owner=team-search',
    'contact=search@example.com',
    'description=Searching all the things',
  ]);
  // This first part deploys the one cluster named prod; the sync set of three (live) comes below.
  // (An older demo named that set prod, which now collides with the cluster: it goes first.)
  await slipway(['services', 'unset', 'search', 'clusters']);
  dirs.push(checkout('1.0.0'));
  await slipway(['build', 'search', '--dir', dirs[0]]);
  await slipway(['bake', 'base']);
  const v1 = await bakeImage('1.0.0');
  const plan = JSON.parse(await slipway(['--json', 'infra', 'plan', 'search'], { quiet: true }));
  console.log(`${plan.id}: ${plan.changes.map((c) => `${c.action} ${c.resource}`).join(', ')}`);
  if (plan.summary.create + plan.summary.update + plan.summary.replace + plan.summary.delete > 0) {
    await slipway(['infra', 'apply', plan.id]);
  }
  // --force: after the README's walkthrough 1.0.0 may be serving already.
  await slipway(['deploy', 'search', 'prod', v1, '-m', 'The first search', '--force', '--yes']);
  await curl();

  dirs.push(checkout('1.1.0'));
  await slipway(['build', 'search', '--dir', dirs[1]]);
  const v2 = await bakeImage('1.1.0');
  let running = true;
  const counts = { ok: 0, failed: 0 };
  const load = (async () => {
    while (running) {
      const answer = await fetch(`${lb}/`).catch(() => undefined);
      if (answer?.status === 200) counts.ok++;
      else counts.failed++;
      await answer?.text();
    }
  })();
  console.log(bold(`\n(meanwhile: requests to ${lb} all through the deployment)`));
  await slipway(['deploy', 'search', 'prod', v2, '-m', 'Making everything faster', '--yes']);
  running = false;
  await load;
  console.log(`requests during the deployment: ${counts.ok} answered, ${counts.failed} failed`);
  await curl();

  dirs.push(checkout('1.2.0', 5));
  await slipway(['build', 'search', '--dir', dirs[2]]);
  const v3 = await bakeImage('1.2.0');
  console.log(bold('\n(1.2.0 is broken: its health check fails 5 s after it starts)'));
  await slipway(['deploy', 'search', 'prod', v3, '-m', 'A risky change', '--burn-in', '15', '--yes'], { expect: 1 });
  await curl();
  await slipway(['history', 'search', 'prod']);
  await slipway(['undo', 'search', 'prod', '-m', 'Back to the release before', '--yes']);
  await curl();
  await slipway(['status', 'search', 'prod']);

  console.log(bold('\n(search also runs in three prod clusters, one per region; suggest depends on it)'));
  // Named live: a set may not share its name with an environment (search has its prod).
  await slipway(['services', 'set', 'search', 'clusters={"live":["prod-a","prod-b","prod-c"]}']);
  await slipway([
    'services',
    'add',
    'suggest',
    'owner=team-search',
    'clusters={"live":["prod-a","prod-b"]}',
    'dependsOn=["search"]',
  ]);
  dirs.push(checkout('1.0.0', 0, 'suggest'));
  await slipway(['build', 'suggest', '--dir', dirs[3]]);
  await slipway(['bake', 'suggest', '1.0.0']);
  const suggestPlan = JSON.parse(await slipway(['--json', 'infra', 'plan', 'suggest'], { quiet: true }));
  if (
    suggestPlan.summary.create + suggestPlan.summary.update + suggestPlan.summary.replace + suggestPlan.summary.delete >
    0
  ) {
    await slipway(['infra', 'apply', suggestPlan.id]);
  }
  // 1.0.0 by hand in one cluster: out of sync with the others, whether they run nothing yet or
  // 1.1.0 from an earlier demo (--force: that one may have left 1.0.0 here already).
  await slipway(['deploy', 'search', 'prod-a', v1, '-m', 'Only one cluster, by hand', '--force', '--yes']);
  await slipway(['sync'], { expect: 1 });
  await slipway([
    'release',
    '-m',
    'Every prod cluster, search first',
    'search@1.1.0',
    'suggest@1.0.0',
    '--env',
    'live',
    '--bake',
    '5',
    '--yes',
  ]);
  await slipway(['sync']);
  console.log(
    bold(
      '\n(Slack acts on search staging, so prod is left as it is: the CLI puts 1.0.0 there, then a deploy of 1.1.0 from Slack and an undo from Slack, back to 1.0.0)',
    ),
  );
  await slipway([
    'deploy',
    'search',
    'staging',
    v1,
    '-m',
    'Staging, for the Slack part of the demo',
    '--force',
    '--yes',
  ]);
  const ended = /deployed|failed|rolled back|cancelled|:warning:/;
  await slackDemo(
    [
      { text: 'status search prod' },
      { text: 'history search prod' },
      { text: `deploy search staging ${v2} -m "Trying 1.1.0 in staging, from Slack"`, until: ended },
      { text: 'undo search staging -m "Back to 1.0.0, from Slack"', until: ended },
    ],
    { home: env.SLIPWAY_HOME, base },
  );
  console.log(bold('\nThe whole workflow ran.'));
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
