/**
 * Where the local cloud's load balancers run. In-process (tests, embedding) they live and die
 * with the engine; detached (the daemon) they run in a process of their own that outlives the
 * daemon, like its instances, so traffic keeps flowing while the control plane restarts: the
 * next daemon adopts that process and carries on pushing targets to it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@slipway/core';
import type { GroupTraffic, LoadBalancerSpec, TargetHealth, TrafficEvent } from '../provider.js';
import { hasMarker, signalGroup } from './instances.js';
import { LocalLoadBalancer } from './load-balancer.js';
import { TrafficLog } from './traffic-log.js';

/** Instance id → where it serves (`host:port`) and its server group: the targets a load balancer should have now. */
export type Targets = Record<string, { address: string; group?: string }>;

export interface LoadBalancers {
  /** Starts the listener, or brings a running one to this spec (a new port: the new listener first). */
  put(spec: LoadBalancerSpec): Promise<void>;
  delete(name: string): Promise<void>;
  setTargets(name: string, targets: Targets): Promise<void>;
  health(name: string): Promise<TargetHealth[]>;
  /** What the listener sent each server group since `since` (none: zeros). */
  trafficOf(name: string, groups: string[], since: Date): Promise<GroupTraffic[]>;
  /** The listener's failures as they happen (traffic-log.ts); answers the unsubscribe. `ended`: the stream broke. */
  subscribe(name: string, listener: (event: TrafficEvent) => void, ended?: () => void): () => void;
  /** The names of the listeners that run now. */
  running(): Promise<string[]>;
  /** False when the process behind them has gone (the data plane needs a new one). */
  alive(): boolean;
  /** Stops every listener, or with `keep` only lets go of them (a daemon that dies). */
  close(options?: { keep?: boolean }): Promise<void>;
}

/** The listeners themselves, in this process. */
export class LoadBalancerSet implements LoadBalancers {
  private readonly balancers = new Map<string, LocalLoadBalancer>();
  private readonly addresses = new Map<string, Map<string, { address: string; group?: string }>>();

  constructor(
    private readonly logger: Logger,
    private readonly timeScale?: number,
  ) {}

  async put(spec: LoadBalancerSpec): Promise<void> {
    const running = this.balancers.get(spec.name);
    if (running && running.spec.port === spec.port) return running.reconfigure(spec);
    const addresses = this.addresses.get(spec.name) ?? new Map<string, { address: string; group?: string }>();
    const next = new LocalLoadBalancer(
      spec,
      (id) => addresses.get(id)?.address,
      this.logger,
      this.timeScale,
      (id) => addresses.get(id)?.group,
    );
    await next.start(); // rejects while the port is taken, leaving the old listener serving
    if (running) next.adoptTargets(running);
    this.balancers.set(spec.name, next);
    this.addresses.set(spec.name, addresses);
    await running?.close();
  }

  async delete(name: string): Promise<void> {
    await this.balancers.get(name)?.close();
    this.balancers.delete(name);
    this.addresses.delete(name);
  }

  async setTargets(name: string, targets: Targets): Promise<void> {
    const balancer = this.balancers.get(name);
    const addresses = this.addresses.get(name);
    if (!balancer || !addresses) return;
    // Addresses stay known while a target that left drains its in-flight requests.
    for (const [id, target] of Object.entries(targets)) {
      // A daemon of an earlier version sends the address alone.
      addresses.set(id, typeof target === 'string' ? { address: target } : target);
    }
    balancer.sync(new Set(Object.keys(targets)));
    const members = new Set(balancer.health().map((t) => t.instanceId));
    for (const id of addresses.keys()) if (!members.has(id)) addresses.delete(id);
  }

  async health(name: string): Promise<TargetHealth[]> {
    return this.balancers.get(name)?.health() ?? [];
  }

  async trafficOf(name: string, groups: string[], since: Date): Promise<GroupTraffic[]> {
    return (this.balancers.get(name) ?? EMPTY).trafficOf(groups, since);
  }

  subscribe(name: string, listener: (event: TrafficEvent) => void): () => void {
    // Through the balancer's current listener: one on a new port adopts its subscribers.
    return this.balancers.get(name)?.subscribe(listener) ?? (() => undefined);
  }

  async running(): Promise<string[]> {
    return [...this.balancers.keys()];
  }

  alive(): boolean {
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([...this.balancers.values()].map((balancer) => balancer.close()));
    this.balancers.clear();
  }
}

const EMPTY = { trafficOf: (groups: string[], since: Date) => new TrafficLog().of(groups, since) };
const MARKER = 'SLIPWAY_BALANCER_HOST';
const HOST_MAIN = fileURLToPath(new URL('../../dist/local/balancer-main.js', import.meta.url));

/** The listeners in a detached process of their own, driven over a Unix socket. */
export class DetachedLoadBalancers implements LoadBalancers {
  private constructor(
    private readonly socket: string,
    private readonly pid: number,
  ) {}

  /** Adopts the balancer process a previous daemon left running, or starts one. */
  static async attach({
    dir,
    logger,
    timeScale,
  }: {
    dir: string;
    logger: Logger;
    timeScale?: number;
  }): Promise<DetachedLoadBalancers> {
    const socket = socketPath(dir);
    const pidFile = join(dir, 'balancers.pid');
    const previous = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (previous && hasMarker(previous, `${MARKER}=${socket}`)) {
      const adopted = new DetachedLoadBalancers(socket, previous);
      if (await adopted.answers()) {
        logger.info({ pid: previous }, 'adopted the load balancer process');
        return adopted;
      }
      signalGroup(previous, 'SIGKILL');
    }
    const log = openSync(join(dir, 'balancers.log'), 'a');
    let exited = false;
    try {
      const child = spawn(process.execPath, [HOST_MAIN, socket], {
        detached: true,
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          [MARKER]: socket,
          ...(timeScale === undefined ? {} : { SLIPWAY_CLOUD_TIME_SCALE: String(timeScale) }),
        },
      });
      child.once('exit', () => (exited = true));
      await new Promise<void>((ok, fail) => {
        child.once('spawn', ok);
        child.once('error', fail);
      });
      child.unref();
      writeFileSync(pidFile, String(child.pid));
      const started = new DetachedLoadBalancers(socket, child.pid!);
      const deadline = Date.now() + 20_000;
      while (!(await started.answers())) {
        if (exited || Date.now() > deadline) {
          throw new Error(`the load balancer process did not start; see ${join(dir, 'balancers.log')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      logger.info({ pid: child.pid }, 'started the load balancer process');
      return started;
    } finally {
      closeSync(log);
    }
  }

  async put(spec: LoadBalancerSpec): Promise<void> {
    await this.call('PUT', `/balancers/${encodeURIComponent(spec.name)}`, spec);
  }

  async delete(name: string): Promise<void> {
    await this.call('DELETE', `/balancers/${encodeURIComponent(name)}`);
  }

  async setTargets(name: string, targets: Targets): Promise<void> {
    await this.call('PUT', `/balancers/${encodeURIComponent(name)}/targets`, targets);
  }

  async health(name: string): Promise<TargetHealth[]> {
    return (await this.call('GET', `/balancers/${encodeURIComponent(name)}/health`)) as TargetHealth[];
  }

  async running(): Promise<string[]> {
    return (await this.call('GET', '/balancers')) as string[];
  }

  async trafficOf(name: string, groups: string[], since: Date): Promise<GroupTraffic[]> {
    const query = new URLSearchParams({ groups: groups.join(','), since: since.toISOString() });
    return (await this.call('GET', `/balancers/${encodeURIComponent(name)}/traffic?${query}`)) as GroupTraffic[];
  }

  /** One JSON event a line over the socket, while the balancer process lives; a dead one ends it. */
  subscribe(name: string, listener: (event: TrafficEvent) => void, ended?: () => void): () => void {
    let closed = false;
    const end = () => {
      if (!closed) ended?.();
      closed = true;
    };
    const req = request({
      socketPath: this.socket,
      method: 'GET',
      path: `/balancers/${encodeURIComponent(name)}/events`,
    });
    req.once('response', (res) => {
      res.once('close', end);
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line) listener(JSON.parse(line) as TrafficEvent);
        }
      });
    });
    req.once('error', end); // gone with the process: the subscriber hears the stream end
    req.end();
    return () => {
      closed = true;
      req.destroy();
    };
  }

  alive(): boolean {
    return hasMarker(this.pid, `${MARKER}=${this.socket}`);
  }

  async close({ keep = false }: { keep?: boolean } = {}): Promise<void> {
    if (keep || !this.alive()) return;
    signalGroup(this.pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (this.alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (this.alive()) signalGroup(this.pid, 'SIGKILL');
  }

  private async answers(): Promise<boolean> {
    return this.running().then(
      () => true,
      () => false,
    );
  }

  private call(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socket,
          method,
          path,
          headers: payload ? { 'Content-Type': 'application/json' } : {},
          timeout: 10_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const answer = text ? (JSON.parse(text) as unknown) : undefined;
            if ((res.statusCode ?? 500) < 400) resolve(answer);
            else reject(new Error((answer as { error?: string } | undefined)?.error ?? `HTTP ${res.statusCode}`));
          });
        },
      );
      req.once('timeout', () => req.destroy(new Error('the load balancer process did not answer')));
      req.once('error', reject);
      req.end(payload);
    });
  }
}

/** A Unix socket path must stay under ~100 bytes: a long home gets one in the temp directory. */
function socketPath(dir: string): string {
  const inDir = join(dir, 'balancers.sock');
  if (Buffer.byteLength(inDir) < 100) return inDir;
  return join(tmpdir(), `slipway-lb-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`);
}
