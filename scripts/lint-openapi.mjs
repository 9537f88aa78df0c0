// Lints every service's OpenAPI document with Redocly's linter (the engine of `redocly lint`),
// configured by redocly.yaml: a document that breaks the OpenAPI rules fails `npm test`.
// Plus one rule of 3.0 Redocly does not check: an `http` scheme's scopes are empty (the
// least role is `x-slipway-role`).
import { formatProblems, getTotals, lint, loadConfig } from '@redocly/openapi-core';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';

function scopedHttpSchemes(ref) {
  const document = parse(readFileSync(ref, 'utf8'));
  const schemes = document.components?.securitySchemes ?? {};
  const found = [];
  const check = (where, security) => {
    for (const requirement of security ?? []) {
      for (const [name, scopes] of Object.entries(requirement)) {
        if (schemes[name]?.type === 'http' && scopes.length > 0) {
          found.push(`${where}: ${name} is an http scheme, whose scopes must be empty; write x-slipway-role`);
        }
      }
    }
  };
  check('security', document.security);
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) check(`${method} ${path}`, operation?.security);
  }
  return found;
}

const documents = readdirSync('packages')
  .sort()
  .map((name) => `packages/${name}/src/schema/openapi.yaml`)
  .filter((path) => existsSync(path));
const config = await loadConfig({ configPath: 'redocly.yaml' });
let failed = 0;
for (const ref of documents) {
  const problems = await lint({ ref, config });
  const totals = getTotals(problems);
  const scoped = scopedHttpSchemes(ref);
  console.log(`${ref}: ${totals.errors + scoped.length} errors, ${totals.warnings} warnings`);
  if (problems.length > 0) formatProblems(problems, { format: 'codeframe', totals, version: 'lint' });
  for (const problem of scoped) console.log(`  ${problem}`);
  if (totals.errors > 0 || totals.warnings > 0 || scoped.length > 0) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);
