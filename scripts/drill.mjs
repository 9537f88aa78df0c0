// The drills, run long (npm test runs each briefly). Each builds first and prints its seed.
// - `npm run drill -- crash [--kills N] [--seed S]`: the random-kill drill of
//   test/orchestrator-crash.test.ts: the kills survived and the worst no-healthy-target gap.
// - `npm run drill -- interleavings [--minutes M] [--seed S]`: the interleaving explorer of
//   packages/orchestrator/src/deployments/explorer.test.ts for M minutes (10): interleavings explored.
// - `npm run drill -- failover [--releases N] [--seed S]`: test/orchestrator-failover.test.ts's
//   Redis Sentinel failover, the primary killed N times mid-release (5).
// - `npm run drill -- analysis [--deployments N]`: N (200) real deployments of a healthy version
//   judged by their traffic (bench/analysis.mjs --drill): how many were rolled back (target 0).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    kills: { type: 'string', default: '200' },
    minutes: { type: 'string', default: '10' },
    releases: { type: 'string', default: '5' },
    deployments: { type: 'string', default: '200' },
    seed: { type: 'string' },
  },
});
const number = (value) => value === undefined || /^\d+$/.test(value);
const DRILLS = {
  crash: {
    file: 'test/orchestrator-crash.test.ts',
    test: 'whenever it is killed',
    env: { DRILL_KILLS: values.kills, ...(values.seed ? { DRILL_SEED: values.seed } : {}) },
  },
  interleavings: {
    file: 'packages/orchestrator/src/deployments/explorer.test.ts',
    test: 'every interleaving',
    env: {
      EXPLORE_SECONDS: String(Number(values.minutes) * 60),
      ...(values.seed ? { EXPLORE_SEED: values.seed } : {}),
    },
  },
  failover: {
    file: 'test/orchestrator-failover.test.ts',
    test: 'failover',
    env: { FAILOVER_KILLS: values.releases, ...(values.seed ? { FAILOVER_SEED: values.seed } : {}) },
  },
  // Not a test file: the bench's drill, against the whole platform.
  analysis: { script: ['bench/analysis.mjs', '--drill', values.deployments] },
};
const drill = DRILLS[positionals[0]];
if (!drill || ![values.kills, values.minutes, values.releases, values.deployments, values.seed].every(number)) {
  console.error(
    'usage: npm run drill -- crash [--kills N] [--seed S] | interleavings [--minutes M] [--seed S] | failover [--releases N] [--seed S] | analysis [--deployments N]',
  );
  process.exit(2);
}
const setup = spawnSync('bash', ['scripts/setup.sh', '--tests'], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const result = spawnSync(
  process.execPath,
  drill.script ?? [
    '--experimental-vm-modules',
    'node_modules/jest/bin/jest.js',
    drill.file,
    '-t',
    drill.test,
    '--forceExit',
  ],
  { stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', ...drill.env } },
);
process.exit(result.status ?? 1);
