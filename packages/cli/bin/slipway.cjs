#!/usr/bin/env node
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS: require loads the bundle without the ES module loader */
// The binary: the CommonJS start-up bundle when built (Node starts it without its ES module
// loader; a command's own modules are imported when it runs), else the compiled modules.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '../dist/slipway.cjs');
const loaded = existsSync(bundle) ? Promise.resolve(require(bundle)) : import('../dist/main.js');
loaded.then(async ({ main }) => {
  process.exitCode = await main(process.argv);
});
