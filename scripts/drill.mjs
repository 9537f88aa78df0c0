// `npm run drill -- crash [--kills N] [--seed S]`: the random-kill drill of
// test/orchestrator-crash.test.ts run long (npm test runs it with 30 kills). Builds first,
// prints the seed, the kills survived and the worst no-healthy-target gap.
// `npm run drill -- analysis [--deployments N]`: N (200) real deployments of a healthy version
// judged by their traffic (bench/analysis.mjs --drill): how many were rolled back (target 0).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    kills: { type: 'string', default: '200' },
    seed: { type: 'string' },
    deployments: { type: 'string', default: '200' },
  },
});
if (positionals[0] === 'analysis') {
  if (!/^\d+$/.test(values.deployments)) {
    console.error('usage: npm run drill -- analysis [--deployments N]');
    process.exit(2);
  }
  const built = spawnSync('bash', ['scripts/setup.sh', '--tests'], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
  const drill = spawnSync(process.execPath, ['bench/analysis.mjs', '--drill', values.deployments], {
    stdio: 'inherit',
  });
  process.exit(drill.status ?? 1);
}
if (positionals[0] !== 'crash' || !/^\d+$/.test(values.kills) || (values.seed && !/^\d+$/.test(values.seed))) {
  console.error('usage: npm run drill -- crash [--kills N] [--seed S] | analysis [--deployments N]');
  process.exit(2);
}
const setup = spawnSync('bash', ['scripts/setup.sh', '--tests'], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const result = spawnSync(
  process.execPath,
  [
    '--experimental-vm-modules',
    'node_modules/jest/bin/jest.js',
    'test/orchestrator-crash.test.ts',
    '-t',
    'whenever it is killed',
    '--forceExit',
  ],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      DRILL_KILLS: values.kills,
      ...(values.seed ? { DRILL_SEED: values.seed } : {}),
    },
  },
);
process.exit(result.status ?? 1);
