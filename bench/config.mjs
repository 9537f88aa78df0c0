// bench/config: GET /config/search/prod?ref=<commit> (cached) and ?ref=main (a branch resolved
// on every request) against a bare Node http server answering a fixed JSON of the same size;
// the cost of the first read of a new commit; and one file read through git cat-file --batch
// (what the service does) against simple-git's `git show` (a process per read).
// Targets (issue 3): cached p99 ≤ 5 ms, ratio ≥ 0.5.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleGit } from '../packages/config/node_modules/simple-git/dist/index.mjs';
import { freePort, gitRepo } from '../packages/test-utils/dist/index.js';
import { alternate, figure, load, startNode, stop, waitHttp } from './_lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const token = 'bench-token';
const home = await mkdtemp(join(tmpdir(), 'slipway-bench-config-'));
const tokensFile = join(home, 'tokens.json');
await writeFile(tokensFile, JSON.stringify({ [token]: { subject: 'bench', role: 'deployer' } }));
const examples = 'examples/config/search-prod';
const read = (version, file) => execFileSync('cat', [join(examples, version, file)], { encoding: 'utf8' });
const files = (version) => ({
  'application-properties.json': read(version, 'application-properties.json'),
  'deployment-params.json': read(version, 'deployment-params.json'),
  'launch-data.json': read(version, 'launch-data.json'),
});
const repo = await gitRepo(files('1'), { dir: join(home, 'sources', 'search-prod') });
const commit = await repo.commit(files('2'), 'second');

const port = await freePort();
const service = startNode('packages/config/dist/main.js', {
  PORT: String(port),
  SLIPWAY_HOME: home,
  SLIPWAY_TOKENS_FILE: tokensFile,
  SLIPWAY_CONFIG_REPO_URL: `file://${home}/sources/{service}-{env}`,
  SLIPWAY_CONFIG_REFRESH_S: '0',
});
const url = `http://127.0.0.1:${port}`;
const headers = { Authorization: `Bearer ${token}` };
let baseline;
try {
  await waitHttp(`${url}/healthz`);
  const sample = await (await fetch(`${url}/config/search/prod?ref=${commit}`, { headers })).text();
  const basePort = await freePort();
  baseline = startNode('bench/config-baseline.mjs', { PORT: String(basePort), BODY: sample });
  await waitHttp(`http://127.0.0.1:${basePort}/`);

  const byCommit = () => `/config/search/prod?ref=${commit}`;
  const byBranch = () => '/config/search/prod?ref=main';
  await load({ url, path: byCommit, headers, seconds: 2 });
  await load({ url: `http://127.0.0.1:${basePort}`, path: byCommit, seconds: 2 });
  const baseRun = { url: `http://127.0.0.1:${basePort}`, path: byCommit, seconds: SECONDS, pid: baseline.pid };
  const first = await alternate({ url, path: byCommit, headers, seconds: SECONDS, pid: service.pid }, baseRun);
  const second = await alternate({ url, path: byBranch, headers, seconds: SECONDS, pid: service.pid }, baseRun);
  const cached = first.a;
  const branch = second.a;
  const base = first.b;
  figure('rounds, alternating ours and baseline', first.rounds, `rounds of ${SECONDS} s each`);
  figure('answer size', sample.length, 'bytes');
  figure('config by commit (cached) req/s', Math.round(cached.requests.average), 'req/s');
  figure('config by commit (cached) p50', cached.latency.p50, 'ms');
  figure('config by commit (cached) p99', cached.latency.p99, 'ms');
  figure('config by branch req/s', Math.round(branch.requests.average), 'req/s');
  figure('config by branch p50', branch.latency.p50, 'ms');
  figure('config by branch p99', branch.latency.p99, 'ms');
  figure('baseline req/s', Math.round(base.requests.average), 'req/s');
  figure('baseline p99', base.latency.p99, 'ms');
  figure('ratio cached (ours / baseline req/s)', (cached.requests.average / first.b.requests.average).toFixed(2), 'x');
  figure('ratio branch (ours / baseline req/s)', (branch.requests.average / second.b.requests.average).toFixed(2), 'x');
  figure('server CPU per request, cached', cached.cpuMicrosPerRequest.toFixed(0), 'µs');
  figure('server CPU per request, branch', branch.cpuMicrosPerRequest.toFixed(0), 'µs');
  figure('server CPU per request, baseline', base.cpuMicrosPerRequest.toFixed(0), 'µs');

  // First read of new commits: each one resolved, its three files read and validated.
  const firsts = [];
  for (let i = 0; i < 20; i++) {
    const next = await repo.commit({ 'launch-data.json': JSON.stringify([`echo ${i}`]) }, `change ${i}`);
    await fetch(`${url}/refresh`, { method: 'POST', headers });
    const started = performance.now();
    const res = await fetch(`${url}/config/search/prod?ref=${next}`, { headers });
    await res.text();
    firsts.push(performance.now() - started);
  }
  firsts.sort((a, b) => a - b);
  figure('first read of a new commit, median of 20', firsts[10].toFixed(2), 'ms');
  figure('first read of a new commit, worst of 20', firsts[19].toFixed(2), 'ms');

  // Why cat-file --batch: one file read 200 times each way.
  const clone = join(home, 'config', 'search-prod.git');
  const git = simpleGit({ baseDir: clone });
  let started = performance.now();
  for (let i = 0; i < 200; i++) await git.show([`${commit}:deployment-params.json`]);
  figure('file read via simple-git (git show per read)', ((performance.now() - started) / 200).toFixed(3), 'ms');
  const { CatFile } = await import('../packages/core/dist/cat-file.js');
  const catFile = new CatFile(clone);
  await catFile.read(`${commit}:deployment-params.json`);
  started = performance.now();
  for (let i = 0; i < 200; i++) await catFile.read(`${commit}:deployment-params.json`);
  figure('file read via git cat-file --batch', ((performance.now() - started) / 200).toFixed(3), 'ms');
  catFile.close();
} finally {
  await stop(service);
  if (baseline) await stop(baseline);
  await repo.remove();
  await rm(home, { recursive: true, force: true });
}
