// Regenerates every service's OpenAPI types into a temporary file and fails when the result
// differs from what is committed in src/schema/generated/: the spec and the types cannot drift.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'slipway-generate-'));
// Each package's own types. A service's contract that others call lives in its own package
// (packages/<service>-api), so its callers import the types and no copy is generated.
const generated = [];
for (const name of readdirSync('packages')) {
  const spec = join('packages', name, 'src/schema/openapi.yaml');
  if (existsSync(spec)) generated.push({ spec, committed: join('packages', name, 'src/schema/generated/openapi.ts') });
}
let stale = 0;
for (const [i, { spec, committed }] of generated.entries()) {
  const fresh = join(dir, `${i}.ts`);
  const result = spawnSync('pnpm', ['exec', 'openapi-typescript', spec, '-o', fresh], { encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(result.stderr);
    stale++;
    continue;
  }
  if (!existsSync(committed) || readFileSync(committed, 'utf8') !== readFileSync(fresh, 'utf8')) {
    console.error(`${committed} is out of date with ${spec}: run \`pnpm generate\` and commit the result`);
    stale++;
  }
}
rmSync(dir, { recursive: true, force: true });
process.exit(stale ? 1 : 0);
