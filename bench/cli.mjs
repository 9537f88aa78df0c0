// bench/cli: `slipway --help` start-up against `node -e 0` (target: within 1.2×), alternating
// runs so both see the same machine; and what bundling buys (against the compiled modules, loaded
// by Node's ES module loader).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { figure } from './_lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const time = (args) => {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const runs = { node: [], bundled: [], unbundled: [] };
for (let i = 0; i < 3; i++) time(['packages/cli/bin/slipway.cjs', '--help']); // warm the file cache
for (let i = 0; i < 25; i++) {
  runs.node.push(time(['-e', '0']));
  runs.bundled.push(time(['packages/cli/bin/slipway.cjs', '--help']));
  runs.unbundled.push(
    time([
      '--input-type=module',
      '-e',
      "const { main } = await import('./packages/cli/dist/main.js'); process.exitCode = await main(['node', 'slipway', '--help']);",
    ]),
  );
}
const node = median(runs.node);
const bundled = median(runs.bundled);
figure('node -e 0, median of 25', node.toFixed(1), 'ms');
figure('slipway --help (bundled), median of 25', bundled.toFixed(1), 'ms');
figure('slipway --help / node -e 0 (target ≤ 1.2)', (bundled / node).toFixed(2), '×');
figure('slipway --help from the unbundled modules, median of 25', median(runs.unbundled).toFixed(1), 'ms');
