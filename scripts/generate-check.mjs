// Regenerates every service's OpenAPI types into a temporary file and fails when the result
// differs from what is committed in src/schema/generated/: the spec and the types cannot drift.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'slipway-generate-'));
let stale = 0;
for (const name of readdirSync('packages')) {
  const spec = join('packages', name, 'src/schema/openapi.yaml');
  if (!existsSync(spec)) continue;
  const committed = join('packages', name, 'src/schema/generated/openapi.ts');
  const fresh = join(dir, `${name}.ts`);
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
