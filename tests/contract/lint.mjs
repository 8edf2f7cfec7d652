// Lints an OpenAPI document with Redocly's linter (@redocly/openapi-core,
// the engine of `redocly lint`) and the rules of redocly.yaml next to this
// file. Prints every problem; exit 1 when there is an error.
//   node lint.mjs api/openapi.yaml
import { fileURLToPath } from 'node:url';
import { formatProblems, getTotals, lint, loadConfig } from '@redocly/openapi-core';

const ref = process.argv[2];
if (!ref || process.argv.length !== 3) {
  console.error('usage: node lint.mjs OPENAPI');
  process.exit(2);
}
const config = await loadConfig({ configPath: fileURLToPath(new URL('redocly.yaml', import.meta.url)) });
const problems = await lint({ ref, config });
const totals = getTotals(problems);
formatProblems(problems, { format: 'stylish', totals, version: 'openapi-core', maxProblems: 1000 });
console.log(`lint.mjs: ${ref}: ${totals.errors} errors, ${totals.warnings} warnings`);
process.exit(totals.errors ? 1 : 0);
