// Regenerates every service's OpenAPI types into a temporary file and fails when the result
// differs from what is committed in src/schema/generated/: the spec and the types cannot drift.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'slipway-generate-'));
// Each package's own types, and the types of the peers it calls but cannot depend on as a
// package (baking calls the orchestrator, which depends on baking): src/schema/generated/peers/<peer>.ts.
const generated = [];
for (const name of readdirSync('packages')) {
  const spec = join('packages', name, 'src/schema/openapi.yaml');
  if (existsSync(spec)) generated.push({ spec, committed: join('packages', name, 'src/schema/generated/openapi.ts') });
  const peers = join('packages', name, 'src/schema/generated/peers');
  if (!existsSync(peers)) continue;
  for (const file of readdirSync(peers).filter((f) => f.endsWith('.ts')))
    generated.push({
      spec: join('packages', file.slice(0, -3), 'src/schema/openapi.yaml'),
      committed: join(peers, file),
    });
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
