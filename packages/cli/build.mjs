// One file for the CLI: Node starts it without resolving dozens of modules; the commands stay
// separate chunks, loaded only when they run. The start-up file the binary loads is CommonJS
// (dist/slipway.cjs): Node's ES module loader alone costs a start-up a fifth of `node -e 0`;
// its commands are the ES module build's (dist/commands/<name>.mjs, chunks shared).
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync(new URL('dist/chunks/', import.meta.url), { recursive: true, force: true });

const dist = new URL('dist/', import.meta.url).pathname;
// Each command that main.ts loads lazily, by the path it imports it with.
const lazy = [...readFileSync(`${dist}main.js`, 'utf8').matchAll(/import\('\.\/commands\/([a-z-]+)\.js'\)/g)].map(
  (m) => m[1],
);

await build({
  entryPoints: {
    slipway: `${dist}main.js`,
    ...Object.fromEntries(lazy.map((name) => [`commands/${name}`, `${dist}commands/${name}.js`])),
  },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: new URL('dist/', import.meta.url).pathname,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  // commander is CommonJS: its require('node:events') needs a require in an ES module.
  banner: {
    js: "import { createRequire as __slipwayRequire } from 'node:module'; const require = __slipwayRequire(import.meta.url);",
  },
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
          path: args.path.replace(/\.js$/, '.mjs'),
          external: true,
        }));
      },
    },
  ],
});
