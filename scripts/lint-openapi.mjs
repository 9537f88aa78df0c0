// Lints every service's OpenAPI document with Redocly's linter (the engine of `redocly lint`),
// configured by redocly.yaml: a document that breaks the OpenAPI rules fails `npm test`.
import { formatProblems, getTotals, lint, loadConfig } from '@redocly/openapi-core';
import { existsSync, readdirSync } from 'node:fs';

const documents = readdirSync('packages')
  .sort()
  .map((name) => `packages/${name}/src/schema/openapi.yaml`)
  .filter((path) => existsSync(path));
const config = await loadConfig({ configPath: 'redocly.yaml' });
let failed = 0;
for (const ref of documents) {
  const problems = await lint({ ref, config });
  const totals = getTotals(problems);
  console.log(`${ref}: ${totals.errors} errors, ${totals.warnings} warnings`);
  if (problems.length > 0) formatProblems(problems, { format: 'codeframe', totals, version: 'lint' });
  if (totals.errors > 0 || totals.warnings > 0) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);
