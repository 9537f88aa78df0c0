/**
 * A small image for the local cloud, as the baking service would write it: a directory with
 * manifest.json and an executable `start` that runs a real HTTP server. It answers
 * GET /healthcheck (failing once `unhealthyAfterSeconds` have passed, when given) and GET /
 * with its version, its instance id and the properties file it was given — or, with
 * `errorRate`, a 500 to that share of them; `delayMs` later than at once.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestImageOptions {
  service?: string;
  version?: string;
  unhealthyAfterSeconds?: number;
  /** The share of GET / answered 500 (0–1). */
  errorRate?: number;
  /** How long GET / takes to answer. */
  delayMs?: number;
}

const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const started = Date.now();
const version = process.env.TEST_IMAGE_VERSION;
const unhealthyAfter = Number(process.env.TEST_IMAGE_UNHEALTHY_AFTER || 0);
const errorRate = Number(process.env.TEST_IMAGE_ERROR_RATE || 0);
const delayMs = Number(process.env.TEST_IMAGE_DELAY_MS || 0);
http.createServer((req, res) => setTimeout(() => answer(req, res), req.url === '/healthcheck' ? 0 : delayMs))
  .listen(Number(process.env.PORT), '127.0.0.1');
function answer(req, res) {
  if (req.url === '/healthcheck') {
    const sick = unhealthyAfter > 0 && Date.now() - started > unhealthyAfter * 1000;
    res.writeHead(sick ? 500 : 200).end(sick ? 'sick' : 'ok');
    return;
  }
  let properties = '';
  try { properties = fs.readFileSync('application.properties', 'utf8'); } catch {}
  res.writeHead(Math.random() < errorRate ? 500 : 200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ version, instance: process.env.SLIPWAY_INSTANCE_ID, properties }));
}
process.on('SIGTERM', () => process.exit(0));
`;

export async function writeTestImage(imagesDir: string, id: string, options: TestImageOptions = {}): Promise<string> {
  const dir = join(imagesDir, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'server.cjs'), SERVER);
  await writeFile(
    join(dir, 'start'),
    [
      '#!/bin/sh',
      `export TEST_IMAGE_VERSION='${options.version ?? '1.0.0'}'`,
      `export TEST_IMAGE_UNHEALTHY_AFTER='${options.unhealthyAfterSeconds ?? 0}'`,
      `export TEST_IMAGE_ERROR_RATE='${options.errorRate ?? 0}'`,
      `export TEST_IMAGE_DELAY_MS='${options.delayMs ?? 0}'`,
      `exec '${process.execPath}' "$IMAGE_DIR/server.cjs"`,
      '',
    ].join('\n'),
  );
  await chmod(join(dir, 'start'), 0o755);
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify({
      id,
      kind: 'service',
      service: options.service ?? 'search',
      version: options.version ?? '1.0.0',
      baseImage: 'img-base-test',
      createdAt: new Date().toISOString(),
    }),
  );
  return dir;
}
