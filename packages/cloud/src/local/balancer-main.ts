/**
 * The local cloud's load balancer process: `node balancer-main.js <socket>`, started detached by
 * the daemon (balancers.ts) and driven over that Unix socket. It outlives the daemon so that
 * the services behind its listeners keep answering while the daemon restarts.
 */
import { createLogger } from '@slipway/core';
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { LoadBalancerSpec } from '../provider.js';
import { LoadBalancerSet, type Targets } from './balancers.js';

const socket = process.argv[2];
if (!socket) throw new Error('usage: balancer-main.js <socket>');
const logger = createLogger({ name: 'cloud-balancers' });
// The daemon's time scale (health checks and draining faster, for tests and demos).
const balancers = new LoadBalancerSet(logger, Number(process.env.SLIPWAY_CLOUD_TIME_SCALE ?? 1));

async function route(method: string, url: URL, body: unknown): Promise<unknown> {
  const path = url.pathname;
  if (method === 'GET' && path === '/balancers') return balancers.running();
  const match = /^\/balancers\/([^/]+)(\/targets|\/health|\/traffic)?$/.exec(path);
  if (!match) throw Object.assign(new Error(`no route ${method} ${path}`), { status: 404 });
  const name = decodeURIComponent(match[1]!);
  if (method === 'PUT' && !match[2]) return balancers.put(body as LoadBalancerSpec);
  if (method === 'DELETE' && !match[2]) return balancers.delete(name);
  if (method === 'PUT' && match[2] === '/targets') return balancers.setTargets(name, body as Targets);
  if (method === 'GET' && match[2] === '/health') return balancers.health(name);
  if (method === 'GET' && match[2] === '/traffic') {
    const groups = (url.searchParams.get('groups') ?? '').split(',').filter(Boolean);
    return balancers.trafficOf(name, groups, new Date(url.searchParams.get('since') ?? 0));
  }
  throw Object.assign(new Error(`no route ${method} ${path}`), { status: 404 });
}

/** A listener's failures as they happen, one JSON object a line, until the daemon hangs up. */
function follow(name: string, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  const unsubscribe = balancers.subscribe(name, (event) => res.write(`${JSON.stringify(event)}\n`));
  res.once('close', unsubscribe);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://balancers');
  const events = /^\/balancers\/([^/]+)\/events$/.exec(url.pathname);
  if (req.method === 'GET' && events) return follow(decodeURIComponent(events[1]!), res);
  let text = '';
  for await (const chunk of req) text += String(chunk);
  try {
    const answer = await route(req.method ?? 'GET', url, text ? JSON.parse(text) : undefined);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer ?? null));
  } catch (error) {
    const status = (error as { status?: number }).status ?? 409;
    res
      .writeHead(status, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ error: (error as Error).message }));
  }
}

rmSync(socket, { force: true }); // left by a process that was killed
const server = createServer((req, res) => void handle(req, res));
server.listen(socket, () => logger.info({ socket }, 'load balancer process listening'));
const stop = () => {
  server.close();
  void balancers.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
