#!/usr/bin/env node
// The bundled CLI when built (one file, quick to start), else the compiled modules.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/slipway.mjs', import.meta.url);
const { main } = await import(existsSync(bundle) ? bundle.href : '../dist/main.js');
process.exitCode = await main(process.argv);
