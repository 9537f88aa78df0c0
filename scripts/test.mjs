// `npm test` after setup: generated types up to date, OpenAPI documents linted (Redocly),
// typecheck, lint, format, then the whole jest suite. Ends with one line `N passed, N failed` (CI reads it) and exits non-zero when
// anything failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const failures = [];
function step(name, command, args, options = {}) {
  process.stderr.write(`\n== ${name}: ${command} ${args.join(' ')}\n`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) failures.push(name);
  return result.status;
}

step('generated types', 'node', ['scripts/generate-check.mjs']);
step('OpenAPI lint', 'node', ['scripts/lint-openapi.mjs']);
step('typecheck', 'pnpm', ['exec', 'tsc', '-p', 'tsconfig.check.json']);
step('lint', 'pnpm', ['exec', 'eslint', '.', '--max-warnings=0']);
step('format', 'pnpm', ['exec', 'prettier', '--check', '.', '--log-level=warn']);

const dir = mkdtempSync(join(tmpdir(), 'slipway-jest-'));
const report = join(dir, 'report.json');
step(
  'jest',
  'node',
  [
    '--experimental-vm-modules',
    'node_modules/jest/bin/jest.js',
    '--json',
    `--outputFile=${report}`,
    '--maxWorkers=2',
    // A test that leaks a handle must not hang CI for its whole time limit; jest still warns.
    '--forceExit',
    ...process.argv.slice(2),
  ],
  { env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' } },
);

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const summary = JSON.parse(readFileSync(report, 'utf8'));
  passed = summary.numPassedTests;
  failed = summary.numFailedTests + summary.numRuntimeErrorTestSuites;
  skipped = summary.numPendingTests + summary.numTodoTests;
} catch {
  failed += 1; // jest did not even write its report
}
rmSync(dir, { recursive: true, force: true });

if (failures.length > 0) process.stderr.write(`\nfailed: ${failures.join(', ')}\n`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failures.length > 0 || failed > 0 ? 1 : 0);
