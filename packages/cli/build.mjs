// One file for the CLI: Node starts it without resolving dozens of modules; the commands stay
// separate chunks, loaded only when they run.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync(new URL('dist/chunks/', import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: { slipway: new URL('dist/main.js', import.meta.url).pathname },
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
