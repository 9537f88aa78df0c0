/**
 * A load balancer of the local cloud: a real HTTP reverse proxy (http-proxy-3) on its own port,
 * round-robin over the targets its own health checks find healthy. A deregistered target drains:
 * it gets no new requests and keeps its in-flight ones until they finish or the deregistration
 * delay ends. With no healthy target it answers 503 problem+json. It counts what each server
 * group's targets answered (traffic-log.ts) and tells its subscribers of failures as they happen.
 */
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { probeHttp, type Logger } from '@slipway/core';
import type { GroupTraffic, LoadBalancerSpec, TargetHealth, TargetHealthState, TrafficEvent } from '../provider.js';
import { TrafficLog, type Outcome } from './traffic-log.js';

const PROXY_TIMEOUT_MS = 60_000;

interface Target {
  instanceId: string;
  state: TargetHealthState;
  reason?: string;
  successes: number;
  failures: number;
  inFlight: number;
  drainUntil?: number;
}

export class LocalLoadBalancer {
  private readonly targets = new Map<string, Target>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly proxy = createProxyServer({ agent: this.agent, xfwd: true, proxyTimeout: PROXY_TIMEOUT_MS });
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private traffic = new TrafficLog();
  private listeners = new Set<(event: TrafficEvent) => void>();
  /** Each proxied request's target and start, until its answer's headers come. */
  private readonly sent = new WeakMap<IncomingMessage, { target: Target; started: number }>();

  constructor(
    public spec: LoadBalancerSpec,
    /** Where an instance serves now (`host:port`), or undefined while it has no address. */
    private readonly addressOf: (instanceId: string) => string | undefined,
    private readonly logger: Logger,
    /** Health-check intervals and draining pass this many times faster (tests, demos); specs keep AWS's values. */
    private readonly timeScale = 1,
    /** The server group an instance belongs to, which its traffic is counted under. */
    private readonly groupOf: (instanceId: string) => string | undefined = () => undefined,
  ) {
    this.proxy.on('proxyRes', (proxyRes, req) => {
      const sent = this.sent.get(req);
      if (!sent) return;
      this.sent.delete(req);
      const status = proxyRes.statusCode ?? 502;
      const outcome = `${Math.min(Math.max(Math.floor(status / 100), 2), 5)}xx` as Outcome;
      this.count(sent.target, outcome, { status, latencyMs: performance.now() - sent.started });
    });
  }

  /** What the targets of `groups` answered since `since`. */
  trafficOf(groups: string[], since: Date): GroupTraffic[] {
    return this.traffic.of(groups, since);
  }

  /** Hears every failure as it happens (and at once, the targets failing now); answers the unsubscribe. */
  subscribe(listener: (event: TrafficEvent) => void): () => void {
    this.listeners.add(listener);
    for (const event of this.traffic.failing()) listener(event);
    return () => this.listeners.delete(listener);
  }

  private count(target: Target, outcome: Outcome, options: { status?: number; latencyMs?: number }): void {
    const event = this.traffic.record(target.instanceId, this.groupOf(target.instanceId), outcome, options);
    if (!event) return;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn({ err: error }, 'a traffic subscriber failed');
      }
    }
  }

  /** Listens on the listener port; rejects with the reason when the port is taken. */
  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === 'EADDRINUSE'
              ? `port ${this.spec.port} is already in use`
              : `cannot listen on port ${this.spec.port}: ${error.message}`,
          ),
        ),
      );
      server.listen(this.spec.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const interval = this.spec.targetGroup.healthCheck.intervalSeconds * 1000 * this.timeScale;
    this.timer = setInterval(() => void this.checkAll(), interval);
    this.timer.unref();
  }

  /** New health check and draining settings, same port; targets keep their state. */
  reconfigure(spec: LoadBalancerSpec): void {
    const interval = spec.targetGroup.healthCheck.intervalSeconds * 1000 * this.timeScale;
    const restartTimer =
      spec.targetGroup.healthCheck.intervalSeconds !== this.spec.targetGroup.healthCheck.intervalSeconds;
    this.spec = spec;
    if (restartTimer && this.timer) {
      clearInterval(this.timer);
      this.timer = setInterval(() => void this.checkAll(), interval);
      this.timer.unref();
    }
  }

  /** Takes over another balancer's targets (a listener moved to a new port). */
  adoptTargets(from: LocalLoadBalancer): void {
    for (const [id, target] of from.targets) this.targets.set(id, { ...target, inFlight: 0 });
    this.traffic = from.traffic;
    this.listeners = from.listeners;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.agent.destroy();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Makes the registered set exactly `instanceIds`: new ones start `initial`, gone ones drain. */
  sync(instanceIds: Set<string>): void {
    for (const id of instanceIds) {
      const target = this.targets.get(id);
      if (!target) {
        this.targets.set(id, { instanceId: id, state: 'initial', successes: 0, failures: 0, inFlight: 0 });
        void this.check(this.targets.get(id)!);
      } else if (target.state === 'draining') {
        // Registered again while draining: back in service after its next checks.
        Object.assign(target, { state: 'initial', successes: 0, failures: 0, drainUntil: undefined });
      }
    }
    for (const target of this.targets.values()) {
      if (!instanceIds.has(target.instanceId) && target.state !== 'draining') this.drain(target);
    }
  }

  health(): TargetHealth[] {
    return [...this.targets.values()].map((target) => {
      const address = this.addressOf(target.instanceId);
      return {
        instanceId: target.instanceId,
        state: target.state,
        ...(address ? { address } : {}),
        ...(target.reason ? { reason: target.reason } : {}),
      };
    });
  }

  private drain(target: Target): void {
    target.state = 'draining';
    target.drainUntil = Date.now() + this.spec.targetGroup.deregistrationDelaySeconds * 1000 * this.timeScale;
    this.finishDraining(target);
  }

  private finishDraining(target: Target): void {
    if (target.state !== 'draining') return;
    if (target.inFlight === 0 || Date.now() >= (target.drainUntil ?? 0)) {
      this.targets.delete(target.instanceId);
      this.traffic.forget(target.instanceId);
      return;
    }
    setTimeout(() => this.finishDraining(target), 100).unref();
  }

  private handle(req: IncomingMessage, res: ServerResponse, attempt = 0): void {
    const target = this.pick();
    const address = target && this.addressOf(target.instanceId);
    if (!target || !address) {
      sendProblem(res, 503, `load balancer ${this.spec.name} has no healthy target`);
      return;
    }
    target.inFlight++;
    const started = performance.now();
    this.sent.set(req, { target, started });
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      target.inFlight--;
      if (target.state === 'draining') this.finishDraining(target);
    };
    res.once('close', finished);
    this.proxy.web(req, res, { target: `http://${address}` }, (error) => {
      finished();
      this.sent.delete(req);
      // The proxy gives up on a target after proxyTimeout: AWS's timeout (an ELB 504), not a refusal.
      const elapsed = performance.now() - started;
      this.count(target, elapsed >= PROXY_TIMEOUT_MS ? 'timeout' : 'connection-error', {});
      // A target that refused the connection got nothing: a GET can go to another one.
      const refused = (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
      if (refused && !res.headersSent && attempt < 2 && (req.method === 'GET' || req.method === 'HEAD')) {
        target.failures = this.spec.targetGroup.healthCheck.unhealthyThreshold;
        target.state = target.state === 'draining' ? 'draining' : 'unhealthy';
        target.reason = 'connection refused';
        this.handle(req, res, attempt + 1);
        return;
      }
      if (!res.headersSent) sendProblem(res, 502, `target ${target.instanceId} failed: ${error.message}`);
      else res.destroy();
    });
  }

  private pick(): Target | undefined {
    const healthy = [...this.targets.values()].filter((t) => t.state === 'healthy');
    if (healthy.length === 0) return undefined;
    this.next = (this.next + 1) % healthy.length;
    return healthy[this.next];
  }

  private async checkAll(): Promise<void> {
    await Promise.all([...this.targets.values()].filter((t) => t.state !== 'draining').map((t) => this.check(t)));
  }

  private async check(target: Target): Promise<void> {
    const check = this.spec.targetGroup.healthCheck;
    const address = this.addressOf(target.instanceId);
    const failed = address ? await probeHttp(`http://${address}${check.path}`, check.timeoutSeconds * 1000) : undefined;
    const reason = !address ? 'no address yet' : failed && `health check: ${failed}`;
    if (target.state === 'draining' || !this.targets.has(target.instanceId)) return;
    if (reason === undefined) {
      target.successes++;
      target.failures = 0;
      if (target.state !== 'healthy' && target.successes >= check.healthyThreshold) {
        target.state = 'healthy';
        delete target.reason;
        this.logger.info({ loadBalancer: this.spec.name, instance: target.instanceId }, 'target healthy');
      }
    } else {
      target.failures++;
      target.successes = 0;
      target.reason = reason;
      if (target.state !== 'unhealthy' && target.failures >= check.unhealthyThreshold && address) {
        target.state = 'unhealthy';
        this.logger.warn({ loadBalancer: this.spec.name, instance: target.instanceId, reason }, 'target unhealthy');
      }
    }
  }
}

function sendProblem(res: ServerResponse, status: number, detail: string): void {
  res.writeHead(status, { 'Content-Type': 'application/problem+json' });
  res.end(
    JSON.stringify({
      type: 'about:blank',
      title: status === 503 ? 'Service Unavailable' : 'Bad Gateway',
      status,
      detail,
    }),
  );
}
