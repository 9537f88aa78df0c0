// One file for the CLI: Node starts it without resolving dozens of modules. The start-up file
// the binary loads is CommonJS (dist/slipway.cjs): Node's ES module loader alone costs a start-up a
// fifth of `node -e 0`; each command is a CommonJS file of its own (dist/commands/<name>.cjs),
// required only when it runs.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// The ES module bundle and chunks an earlier build made.
rmSync(new URL('dist/chunks/', import.meta.url), { recursive: true, force: true });
rmSync(new URL('dist/slipway.mjs', import.meta.url), { force: true });

const dist = new URL('dist/', import.meta.url).pathname;
// Each command that main.ts loads lazily, by the path it imports it with.
const lazy = [...readFileSync(`${dist}main.js`, 'utf8').matchAll(/import\('\.\/commands\/([a-z-]+)\.js'\)/g)].map(
  (m) => m[1],
);

// Each command its own CommonJS file (dist/commands/<name>.cjs), required when it runs: an ES
// module chunk imported at run time started Node's ES module loader first, some 40 ms of a quick
// command's start (`slipway status`); shared code is copied into each, which costs nothing at run time.
const commonJs = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // The code finds its package.json by its own URL: the file's, which sits in dist/ or beside it.
  define: { 'import.meta.url': '__slipwayUrl' },
  banner: { js: "const __slipwayUrl = require('node:url').pathToFileURL(__filename).href;" },
  // import() as require(): never Node's ES module loader.
  supported: { 'dynamic-import': false },
};
await build({
  ...commonJs,
  entryPoints: Object.fromEntries(lazy.map((name) => [name, `${dist}commands/${name}.js`])),
  outdir: `${dist}commands/`,
  outExtension: { '.js': '.cjs' },
  plugins: [
    {
      // The prompts (0.8 MB with their encodings) are a file of their own, required only when a
      // command asks a person something: not compiled into every command that might.
      name: 'prompts-apart',
      setup(b) {
        b.onResolve({ filter: /^@inquirer\/prompts$/ }, () => ({ path: './prompts.cjs', external: true }));
      },
    },
  ],
});
await build({
  ...commonJs,
  stdin: { contents: "module.exports = require('@inquirer/prompts');", resolveDir: dist },
  outfile: `${dist}commands/prompts.cjs`,
});

// The binary's start-up: commander and main in one CommonJS file; each command imported from the
// ES module build above when it runs.
await build({
  entryPoints: [`${dist}main.js`],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: `${dist}slipway.cjs`,
  logLevel: 'warning',
  supported: { 'dynamic-import': false },
  // main.js finds its package.json by its own URL: this file's, which sits beside it in dist/.
  define: { 'import.meta.url': '__slipwayUrl' },
  banner: { js: "const __slipwayUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [
    {
      // commander requires child_process (and with it net) at its top for executable subcommands,
      // which slipway has none of: a tenth of the start-up, loaded only if ever used.
      name: 'lazy-child-process',
      setup(b) {
        b.onResolve({ filter: /^node:child_process$/ }, (args) =>
          args.importer.includes('/commander/') ? { path: 'child_process', namespace: 'lazy' } : undefined,
        );
        b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
          contents:
            "let loaded; module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require('node:child_process'))[key] });",
          loader: 'js',
        }));
      },
    },
    {
      name: 'lazy-commands',
      setup(b) {
        b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$/ }, (args) => ({
          path: args.path.replace(/\.js$/, '.cjs'),
          external: true,
        }));
      },
    },
  ],
});
