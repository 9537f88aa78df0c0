/**
 * The local cloud's data plane kept in step with its state: each load balancer's listener, and
 * its targets (its groups' enabled running instances, plus and minus the hand-made changes),
 * pushed only when they change, one push at a time. A load balancer process that died is
 * replaced with every listener and its targets.
 */
import { join } from 'node:path';
import { NotFoundError, type Logger } from '@slipway/core';
import type { GroupTraffic, LoadBalancerSpec, TargetHealth, TrafficEvent } from '../provider.js';
import { DetachedLoadBalancers, LoadBalancerSet, type LoadBalancers, type Targets } from './balancers.js';
import { findInstance, type LocalState } from './state.js';

export interface BalancerSyncOptions {
  home: string;
  logger: Logger;
  balancers?: 'in-process' | 'detached';
  timeScale?: number;
}

export class BalancerSync {
  private balancers!: LoadBalancers;
  /** Load balancers whose listener runs now. */
  private readonly live = new Set<string>();
  /** What each load balancer was last told its targets are, to push only changes. */
  private readonly pushed = new Map<string, string>();
  private pushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: BalancerSyncOptions,
    /** The cloud's state as it is now (loaded when the cloud starts). */
    private readonly state: () => LocalState,
  ) {}

  /** Opens the load balancers (attaching to a detached process that still runs) and puts every listener. */
  async open(): Promise<void> {
    this.balancers = await this.openBalancers();
    await this.putAll();
  }

  /** The data plane's own process died: a new one, with every listener and its targets. */
  async reviveIfDead(): Promise<void> {
    if (this.balancers.alive()) return;
    this.options.logger.warn('the load balancer process exited; starting a new one');
    this.live.clear();
    this.pushed.clear();
    await this.open();
  }

  async close(options: { keep: boolean }): Promise<void> {
    await this.pushing;
    await this.balancers.close(options);
    this.live.clear();
  }

  isLive(name: string): boolean {
    return this.live.has(name);
  }

  /** Starts (or moves) one listener; its targets are pushed again at the next sync. */
  async start(spec: LoadBalancerSpec): Promise<void> {
    const { name, port, protocol, targetGroup } = spec;
    await this.balancers.put({ name, port, protocol, targetGroup });
    this.live.add(name);
    this.pushed.delete(name);
  }

  async delete(name: string): Promise<void> {
    await this.balancers.delete(name);
    this.live.delete(name);
    this.pushed.delete(name);
  }

  health(name: string): Promise<TargetHealth[]> {
    return this.balancers.health(name);
  }

  trafficOf(name: string, groups: string[], since: Date): Promise<GroupTraffic[]> {
    return this.balancers.trafficOf(name, groups, since);
  }

  subscribe(name: string, onEvent: (event: TrafficEvent) => void, ended?: () => void): () => void {
    return this.balancers.subscribe(name, onEvent, ended);
  }

  /** The name of the running load balancer that has this target group. */
  mustBalancerFor(targetGroup: string): string {
    const spec = Object.values(this.state().loadBalancers).find((lb) => lb.targetGroup.name === targetGroup);
    if (!spec || !this.live.has(spec.name)) throw new NotFoundError(`no target group ${targetGroup}`);
    return spec.name;
  }

  /** Each load balancer's targets: its group's enabled running instances, plus and minus the hand-made changes. */
  sync(): Promise<void> {
    const state = this.state();
    const wanted = new Map<string, Targets>();
    for (const spec of Object.values(state.loadBalancers)) {
      if (!this.live.has(spec.name)) continue;
      const tg = spec.targetGroup.name;
      const members = new Set<string>();
      for (const group of Object.values(state.serverGroups)) {
        if (group.disabled || group.destroying || !group.targetGroups.includes(tg)) continue;
        for (const instance of Object.values(group.instances)) {
          if (instance.lifecycle === 'running') members.add(instance.id);
        }
      }
      for (const id of state.registered[tg] ?? []) {
        if (findInstance(state, id)?.lifecycle === 'running') members.add(id);
      }
      for (const id of state.deregistered[tg] ?? []) members.delete(id);
      const targets: Targets = {};
      for (const id of [...members].sort()) {
        const instance = findInstance(state, id);
        const address =
          instance && instance.lifecycle !== 'pending' && instance.port ? `127.0.0.1:${instance.port}` : undefined;
        if (address) targets[id] = { address, group: instance!.group };
      }
      wanted.set(spec.name, targets);
    }
    // One push at a time, in order, so an older target list never lands after a newer one.
    this.pushing = this.pushing.then(async () => {
      for (const [name, targets] of wanted) {
        const text = JSON.stringify(targets);
        if (this.pushed.get(name) === text) continue;
        try {
          await this.balancers.setTargets(name, targets);
          this.pushed.set(name, text);
        } catch (error) {
          this.options.logger.warn({ loadBalancer: name, err: error }, 'cannot update the targets');
        }
      }
    });
    return this.pushing;
  }

  private openBalancers(): Promise<LoadBalancers> {
    const { logger, timeScale } = this.options;
    if (this.options.balancers !== 'detached') return Promise.resolve(new LoadBalancerSet(logger, timeScale));
    return DetachedLoadBalancers.attach({
      dir: join(this.options.home, 'cloud'),
      logger,
      ...(timeScale === undefined ? {} : { timeScale }),
    });
  }

  private async putAll(): Promise<void> {
    for (const spec of Object.values(this.state().loadBalancers)) {
      await this.start(spec).catch((error: Error) =>
        this.options.logger.error({ loadBalancer: spec.name, err: error }, 'load balancer cannot start'),
      );
    }
    await this.sync();
  }
}
