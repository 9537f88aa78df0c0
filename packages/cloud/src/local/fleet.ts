/**
 * The loop that keeps the local cloud's server groups at their capacity, like an auto scaling
 * group: an instance that exits is replaced (its end and the tail of its log kept on its
 * group), missing ones are launched as processes, extra ones terminated newest first; then the
 * load balancers' targets are synced and the logs rolled over.
 */
import { createServer } from 'node:net';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@slipway/core';
import { isInstanceAlive, launchProcess, logTail, terminateProcess } from './instances.js';
import { DEFAULT_LOG_ROLL, rollLogFile, type LogRollOptions } from './log-files.js';
import type { BalancerSync } from './balancer-sync.js';
import type { LocalState, StoredGroup, StoredInstance } from './state.js';

export interface FleetOptions {
  home: string;
  logger: Logger;
  reconcileMs?: number;
  balancers?: 'in-process' | 'detached';
  logRoll?: LogRollOptions;
  imagesDir: string;
  instancesDir: string;
  /** The cloud's state as it is now, and how it is saved. */
  state: () => LocalState;
  save: () => void;
  targets: BalancerSync;
}

export class Fleet {
  /** How each instance this daemon started ended ('exit code 1'), once it has. */
  private readonly endings = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;

  constructor(private readonly options: FleetOptions) {}

  /** Reconciles now, then every `reconcileMs`. */
  async start(): Promise<void> {
    await this.reconcile();
    this.timer = setInterval(() => void this.reconcile(), this.options.reconcileMs ?? 500);
    this.timer.unref();
  }

  /** Stops the loop and waits for a reconcile under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.reconciling;
  }

  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileOnce()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'reconcile failed'))
      .finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    const { logger, targets } = this.options;
    await targets.reviveIfDead();
    let changed = false;
    for (const group of Object.values(this.options.state().serverGroups)) {
      if (group.destroying) continue;
      for (const instance of Object.values(group.instances)) {
        if (instance.lifecycle === 'running' && instance.pid && !isInstanceAlive(instance.pid, instance.id)) {
          logger.warn({ group: group.name, instance: instance.id }, 'instance exited; replacing it');
          delete group.instances[instance.id];
          await this.recordExit(group, instance, this.endings.get(instance.id));
          changed = true;
        }
      }
      const live = Object.values(group.instances).filter((i) => i.lifecycle === 'pending' || i.lifecycle === 'running');
      for (let n = live.length; n < group.desired; n++) {
        this.launch(group);
        changed = true;
      }
      const extra = live.length - group.desired;
      if (extra > 0) {
        const newestFirst = live.sort((a, b) => b.launchedAt.localeCompare(a.launchedAt)).slice(0, extra);
        for (const instance of newestFirst) {
          instance.lifecycle = 'terminating';
          void this.terminate(group, instance);
        }
        changed = true;
      }
    }
    if (changed) this.options.save();
    await targets.sync();
    await this.rollLogs();
  }

  private async rollLogs(): Promise<void> {
    const files = Object.values(this.options.state().serverGroups).flatMap((group) =>
      Object.values(group.instances).map((instance) => join(instance.dir, 'instance.log')),
    );
    if (this.options.balancers === 'detached') files.push(join(this.options.home, 'cloud', 'balancers.log'));
    for (const file of files) {
      await rollLogFile(file, this.options.logRoll ?? DEFAULT_LOG_ROLL).catch((error: unknown) =>
        this.options.logger.warn({ file, err: error }, 'cannot roll the log over'),
      );
    }
  }

  private launch(group: StoredGroup): void {
    const state = this.options.state();
    const id = `i-${String(state.nextInstance++).padStart(6, '0')}`;
    const template = state.launchTemplates[group.launchTemplate]!;
    const instance: StoredInstance = {
      id,
      group: group.name,
      dir: join(this.options.instancesDir, id),
      port: 0,
      lifecycle: 'pending',
      launchedAt: new Date().toISOString(),
    };
    group.instances[id] = instance;
    void (async () => {
      try {
        instance.port = await freePort();
        instance.pid = await launchProcess({
          id,
          dir: instance.dir,
          imageDir: join(this.options.imagesDir, template.imageId),
          userData: template.userData,
          port: instance.port,
          onExit: (how) => this.endings.set(id, how),
        });
        if (instance.lifecycle === 'pending') instance.lifecycle = 'running';
        this.options.logger.info(
          { group: group.name, instance: id, pid: instance.pid, port: instance.port },
          'instance launched',
        );
      } catch (error) {
        this.options.logger.error({ group: group.name, instance: id, err: error }, 'instance failed to launch');
        delete group.instances[id];
        await this.recordExit(group, instance, (error as Error).message);
      } finally {
        this.options.save();
        void this.options.targets.sync();
      }
    })();
  }

  private async terminate(group: StoredGroup, instance: StoredInstance): Promise<void> {
    await this.options.targets.sync();
    if (instance.pid) await terminateProcess(instance.pid, instance.id);
    delete group.instances[instance.id];
    this.options.save();
    await this.removeFolder(instance);
  }

  /**
   * An instance that exited on its own: kept on its group (the last 5, with the end of its log,
   * for a deployment to say why its instances never came up), and its folder removed — a crash
   * loop would otherwise leave one folder per replacement.
   */
  private async recordExit(group: StoredGroup, instance: StoredInstance, how: string | undefined): Promise<void> {
    const tail = await logTail(join(instance.dir, 'instance.log'));
    group.recentExits = [
      ...(group.recentExits ?? []),
      { instanceId: instance.id, exitedAt: new Date().toISOString(), ...(how ? { how } : {}), logTail: tail },
    ].slice(-5);
    this.endings.delete(instance.id);
    await this.removeFolder(instance);
  }

  async removeFolder(instance: StoredInstance): Promise<void> {
    // Only ever a folder of ours: instances/<id>.
    if (instance.dir === join(this.options.instancesDir, instance.id))
      await rm(instance.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Folders of instances the state no longer has (a daemon killed between an exit and its clean-up). */
  async removeLeftoverFolders(): Promise<void> {
    const { instancesDir } = this.options;
    const known = new Set(
      Object.values(this.options.state().serverGroups).flatMap((group) => Object.keys(group.instances)),
    );
    for (const entry of await readdir(instancesDir).catch(() => [] as string[]))
      if (/^i-\d+$/.test(entry) && !known.has(entry))
        await rm(join(instancesDir, entry), { recursive: true, force: true }).catch(() => undefined);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
