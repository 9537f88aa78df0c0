/**
 * The local cloud's engine, behind the same CloudProvider interface as AWS. Server groups keep
 * `desired` instances alive like an auto scaling group (an instance that exits is replaced);
 * load balancers are real proxies; an enabled group's running instances are registered with its
 * target groups, a disabled group's are drained. State survives a restart: on start it adopts
 * the instances whose processes still live and replaces the rest, and (detached) the load
 * balancer process, which keeps serving while the daemon is down.
 */
import { checkLoadBalancerSpec, checkUserData } from '../bounds.js';
import { ConflictError, InputError, NotFoundError, parseServerGroupName, type Logger } from '@slipway/core';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type {
  Capacity,
  CloudProvider,
  Image,
  ImageKind,
  Instance,
  LaunchTemplate,
  LaunchTemplateSpec,
  LoadBalancer,
  LoadBalancerSpec,
  ServerGroup,
  CloudListing,
  ServerGroupSpec,
  TargetHealth,
  GroupTraffic,
  TrafficEvent,
  TrafficSubscription,
} from '../provider.js';
import { isInstanceAlive, launchProcess, logTail, terminateProcess } from './instances.js';
import { DetachedLoadBalancers, LoadBalancerSet, type LoadBalancers, type Targets } from './balancers.js';
import { DEFAULT_LOG_ROLL, rollLogFile, type LogRollOptions } from './log-files.js';
import { dict, loadState, saveState, type LocalState, type StoredGroup, type StoredInstance } from './state.js';

export interface LocalCloudOptions {
  /** $SLIPWAY_HOME: images under images/, the cloud's own files under cloud/. */
  home: string;
  logger: Logger;
  /** How often groups are reconciled with their desired capacity. */
  reconcileMs?: number;
  /**
   * `detached` (the daemon): the load balancers run in a process of their own that outlives
   * this one. `in-process` (default): they close with the engine.
   */
  balancers?: 'in-process' | 'detached';
  /**
   * Health-check intervals and draining run this many times faster (tests and demos: 0.04 makes
   * AWS's shortest interval, 5 s, 0.2 s). Specs are still held to AWS's bounds.
   */
  timeScale?: number;
  /** When the instances' logs and the load balancer process's log roll over (log-files.ts). */
  logRoll?: LogRollOptions;
}

const IMAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class LocalCloud implements CloudProvider {
  readonly kind = 'local' as const;
  readonly healthSource = 'http' as const;

  async ping(): Promise<void> {}
  private readonly stateFile: string;
  private readonly imagesDir: string;
  private readonly instancesDir: string;
  private state!: LocalState;
  private balancers!: LoadBalancers;
  /** Load balancers whose listener runs now. */
  private readonly live = new Set<string>();
  /** Each image's manifest as last read, with its modification time. */
  private readonly manifests = new Map<string, { changed: number; image: Image }>();
  /** What each load balancer was last told its targets are, to push only changes. */
  private readonly pushed = new Map<string, string>();
  private pushing: Promise<void> = Promise.resolve();
  private readonly launching = new Set<string>();
  /** How each instance this daemon started ended ('exit code 1'), once it has. */
  private readonly endings = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;

  constructor(private readonly options: LocalCloudOptions) {
    this.stateFile = join(options.home, 'cloud', 'state.json');
    this.imagesDir = join(options.home, 'images');
    this.instancesDir = join(options.home, 'cloud', 'instances');
  }

  async start(): Promise<void> {
    await mkdir(this.instancesDir, { recursive: true });
    await mkdir(this.imagesDir, { recursive: true });
    this.state = loadState(this.stateFile);
    let adopted = 0;
    for (const group of Object.values(this.state.serverGroups)) {
      for (const instance of Object.values(group.instances)) {
        if (instance.pid && isInstanceAlive(instance.pid, instance.id)) {
          instance.lifecycle = 'running';
          adopted++;
        } else {
          delete group.instances[instance.id]; // replaced by the first reconcile
        }
      }
    }
    await this.removeLeftoverFolders();
    this.balancers = await this.openBalancers();
    await this.putAllBalancers();
    this.save();
    this.options.logger.info({ adopted }, 'local cloud started');
    await this.reconcile();
    this.timer = setInterval(() => void this.reconcile(), this.options.reconcileMs ?? 500);
    this.timer.unref();
  }

  /** Stops the load balancers and, unless `keepInstances`, every instance it runs. */
  async stop({ keepInstances = false }: { keepInstances?: boolean } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.reconciling;
    await this.pushing;
    await this.balancers.close({ keep: keepInstances });
    this.live.clear();
    if (keepInstances) return;
    const all = Object.values(this.state.serverGroups).flatMap((group) => Object.values(group.instances));
    await Promise.all(all.map((instance) => (instance.pid ? terminateProcess(instance.pid, instance.id) : undefined)));
    for (const group of Object.values(this.state.serverGroups)) group.instances = dict();
    this.save();
  }

  // ---- images: directories the baking service writes; read here --------------------------

  async getImage(id: string): Promise<Image | undefined> {
    if (!IMAGE_ID.test(id)) return undefined;
    const manifest = join(this.imagesDir, id, 'manifest.json');
    // Read again only when it changed: listing a thousand images reads a thousand manifests otherwise.
    const changed = await stat(manifest).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    if (changed === undefined) {
      this.manifests.delete(id);
      return undefined;
    }
    const known = this.manifests.get(id);
    if (known?.changed === changed) return known.image;
    const image = this.imageOf(
      id,
      JSON.parse(await readFile(manifest, 'utf8')) as Partial<Image> & { created?: string },
    );
    this.manifests.set(id, { changed, image });
    return image;
  }

  private imageOf(id: string, raw: Partial<Image> & { created?: string }): Image {
    return {
      id,
      kind: raw.kind === 'base' ? 'base' : 'service',
      ...(raw.service ? { service: raw.service } : {}),
      ...(raw.version ? { version: raw.version } : {}),
      ...(raw.baseImage ? { baseImage: raw.baseImage } : {}),
      createdAt: raw.createdAt ?? raw.created ?? new Date(0).toISOString(),
      tags: raw.tags ?? {},
    };
  }

  async listImages(filter: { service?: string; kind?: ImageKind } = {}): Promise<Image[]> {
    const ids = existsSync(this.imagesDir) ? await readdir(this.imagesDir) : [];
    const present = new Set(ids);
    for (const id of this.manifests.keys()) if (!present.has(id)) this.manifests.delete(id);
    const images = (await Promise.all(ids.map((id) => this.getImage(id)))).filter((i): i is Image => !!i);
    return images
      .filter((i) => (!filter.service || i.service === filter.service) && (!filter.kind || i.kind === filter.kind))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async deregisterImage(id: string): Promise<void> {
    if (!IMAGE_ID.test(id)) throw new InputError(`invalid image id ${id}`);
    // Its instances run from its directory: an image in use stays, whoever asks.
    const user = Object.values(this.state.serverGroups).find(
      (g) => this.state.launchTemplates[g.launchTemplate]?.imageId === id,
    );
    if (user) throw new ConflictError(`image ${id} is used by server group ${user.name}: destroy the group first`);
    await rm(join(this.imagesDir, id), { recursive: true, force: true });
  }

  async imagesInUse(): Promise<string[]> {
    const templates = Object.values(this.state.serverGroups).map((g) => this.state.launchTemplates[g.launchTemplate]);
    return [...new Set(templates.filter((t): t is LaunchTemplate => !!t).map((t) => t.imageId))];
  }

  // ---- launch templates -------------------------------------------------------------------

  async createLaunchTemplate(spec: LaunchTemplateSpec): Promise<LaunchTemplate> {
    checkUserData(spec.name, spec.userData); // what EC2 would refuse is refused here too
    const existing = this.state.launchTemplates[spec.name];
    if (existing) {
      if (!sameSpec(existing, spec)) throw new ConflictError(`launch template ${spec.name} exists with another spec`);
      return existing;
    }
    if (!(await this.getImage(spec.imageId))) throw new NotFoundError(`no image ${spec.imageId}`);
    const template: LaunchTemplate = { ...spec, id: `lt-${spec.name}`, createdAt: new Date().toISOString() };
    this.state.launchTemplates[spec.name] = template;
    this.save();
    return template;
  }

  async getLaunchTemplate(name: string): Promise<LaunchTemplate | undefined> {
    return this.state.launchTemplates[name];
  }

  async deleteLaunchTemplate(name: string): Promise<void> {
    const user = Object.values(this.state.serverGroups).find((g) => g.launchTemplate === name);
    if (user) throw new ConflictError(`launch template ${name} is used by server group ${user.name}`);
    delete this.state.launchTemplates[name];
    this.save();
  }

  // ---- server groups ----------------------------------------------------------------------

  async createServerGroup(spec: ServerGroupSpec): Promise<ServerGroup> {
    if (!parseServerGroupName(spec.name)) {
      throw new InputError(`invalid server group name ${spec.name}: <service>-<env>-vNNN`);
    }
    checkCapacity(spec);
    const existing = this.state.serverGroups[spec.name];
    if (existing) {
      if (existing.destroying) throw new ConflictError(`server group ${spec.name} is being destroyed`);
      const same =
        existing.launchTemplate === spec.launchTemplate &&
        isDeepStrictEqual(existing.targetGroups, spec.targetGroups) &&
        existing.min === spec.min &&
        existing.max === spec.max &&
        existing.desired === spec.desired;
      if (!same) throw new ConflictError(`server group ${spec.name} exists with another spec`);
      return this.describe(existing);
    }
    if (!this.state.launchTemplates[spec.launchTemplate]) {
      throw new NotFoundError(`no launch template ${spec.launchTemplate}`);
    }
    const group: StoredGroup = {
      name: spec.name,
      launchTemplate: spec.launchTemplate,
      targetGroups: [...spec.targetGroups],
      tags: spec.tags ?? {},
      min: spec.min,
      max: spec.max,
      desired: spec.desired,
      disabled: spec.disabled ?? false,
      destroying: false,
      createdAt: new Date().toISOString(),
      instances: dict(),
    };
    this.state.serverGroups[spec.name] = group;
    this.save();
    void this.reconcile();
    return this.describe(group);
  }

  async getServerGroup(name: string): Promise<ServerGroup | undefined> {
    const group = this.state.serverGroups[name];
    return group && !group.destroying ? this.describe(group) : undefined;
  }

  async listServerGroups(cluster: string): Promise<ServerGroup[]> {
    return Object.values(this.state.serverGroups)
      .filter((g) => !g.destroying && parseServerGroupName(g.name)?.cluster === cluster)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((g) => this.describe(g));
  }

  async describeClusters(): Promise<CloudListing> {
    const groups = Object.values(this.state.serverGroups)
      .filter((g) => !g.destroying)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const serving = new Set(groups.filter((g) => !g.disabled).flatMap((g) => g.targetGroups));
    const targetHealth: CloudListing['targetHealth'] = {};
    for (const spec of Object.values(this.state.loadBalancers))
      if (serving.has(spec.targetGroup.name) && this.live.has(spec.name))
        targetHealth[spec.targetGroup.name] = await this.balancers.health(spec.name);
    return { groups: groups.map((g) => this.describe(g)), targetHealth };
  }

  async resizeServerGroup(name: string, capacity: Capacity): Promise<ServerGroup> {
    checkCapacity(capacity);
    const group = this.mustGroup(name);
    Object.assign(group, { min: capacity.min, max: capacity.max, desired: capacity.desired });
    this.save();
    void this.reconcile();
    return this.describe(group);
  }

  async disableServerGroup(name: string): Promise<ServerGroup> {
    const group = this.mustGroup(name);
    group.disabled = true;
    this.save();
    await this.syncBalancers();
    return this.describe(group);
  }

  async enableServerGroup(name: string): Promise<ServerGroup> {
    const group = this.mustGroup(name);
    group.disabled = false;
    for (const targetGroup of group.targetGroups) {
      this.state.deregistered[targetGroup] = (this.state.deregistered[targetGroup] ?? []).filter(
        (id) => !group.instances[id],
      );
    }
    this.save();
    await this.syncBalancers();
    return this.describe(group);
  }

  async destroyServerGroup(name: string): Promise<void> {
    const group = this.state.serverGroups[name];
    if (!group) {
      // Its launch template goes with it, also when a stop came between the two (same name by convention).
      await this.deleteLaunchTemplate(name);
      return;
    }
    group.destroying = true;
    this.save();
    await this.syncBalancers();
    await Promise.all(
      Object.values(group.instances).map(async (instance) => {
        instance.lifecycle = 'terminating';
        if (instance.pid) await terminateProcess(instance.pid, instance.id);
        await this.removeFolder(instance);
      }),
    );
    delete this.state.serverGroups[name];
    delete this.state.launchTemplates[group.launchTemplate];
    this.save();
  }

  // ---- load balancers and target groups ---------------------------------------------------

  async createLoadBalancer(spec: LoadBalancerSpec): Promise<LoadBalancer> {
    checkLoadBalancerSpec(spec);
    const existing = this.state.loadBalancers[spec.name];
    if (existing) {
      const { address: _a, createdAt: _c, ...existingSpec } = existing;
      if (!sameSpec(existingSpec, spec)) throw new ConflictError(`load balancer ${spec.name} exists with another spec`);
      if (!this.live.has(spec.name)) await this.startBalancer(existing);
      return existing;
    }
    const clash = Object.values(this.state.loadBalancers).find(
      (lb) => lb.targetGroup.name === spec.targetGroup.name || lb.port === spec.port,
    );
    if (clash)
      throw new ConflictError(
        `load balancer ${clash.name} already has port ${clash.port} or target group ${clash.targetGroup.name}`,
      );
    const balancer: LoadBalancer = { ...spec, address: `127.0.0.1:${spec.port}`, createdAt: new Date().toISOString() };
    await this.startBalancer(balancer);
    this.state.loadBalancers[spec.name] = balancer;
    this.save();
    await this.syncBalancers();
    return balancer;
  }

  async modifyLoadBalancer(spec: LoadBalancerSpec): Promise<LoadBalancer> {
    checkLoadBalancerSpec(spec);
    const existing = this.state.loadBalancers[spec.name];
    if (!existing) throw new NotFoundError(`no load balancer ${spec.name}`);
    if (existing.targetGroup.name !== spec.targetGroup.name)
      throw new InputError(
        `load balancer ${spec.name} has target group ${existing.targetGroup.name}; a target group cannot be renamed in place`,
      );
    const updated: LoadBalancer = { ...existing, ...spec, address: `127.0.0.1:${spec.port}` };
    if (spec.port !== existing.port) {
      const clash = Object.values(this.state.loadBalancers).find(
        (lb) => lb.name !== spec.name && lb.port === spec.port,
      );
      if (clash) throw new ConflictError(`load balancer ${clash.name} already has port ${spec.port}`);
    }
    // A new port: the new listener first, so a port that is taken leaves the old one serving.
    await this.startBalancer(updated);
    this.state.loadBalancers[spec.name] = updated;
    this.save();
    await this.syncBalancers();
    return updated;
  }

  async getLoadBalancer(name: string): Promise<LoadBalancer | undefined> {
    return this.state.loadBalancers[name];
  }

  async listLoadBalancers(): Promise<LoadBalancer[]> {
    return Object.values(this.state.loadBalancers);
  }

  async deleteLoadBalancer(name: string): Promise<void> {
    await this.balancers.delete(name);
    this.live.delete(name);
    this.pushed.delete(name);
    delete this.state.loadBalancers[name];
    this.save();
  }

  async registerTargets(targetGroup: string, instanceIds: string[]): Promise<void> {
    this.mustBalancerFor(targetGroup);
    const unknown = instanceIds.filter((id) => !this.findInstance(id));
    if (unknown.length) throw new NotFoundError(`no instance ${unknown.join(', ')}`);
    this.state.registered[targetGroup] = union(this.state.registered[targetGroup], instanceIds);
    this.state.deregistered[targetGroup] = minus(this.state.deregistered[targetGroup], instanceIds);
    this.save();
    await this.syncBalancers();
  }

  async deregisterTargets(targetGroup: string, instanceIds: string[]): Promise<void> {
    this.mustBalancerFor(targetGroup);
    this.state.registered[targetGroup] = minus(this.state.registered[targetGroup], instanceIds);
    this.state.deregistered[targetGroup] = union(this.state.deregistered[targetGroup], instanceIds);
    this.save();
    await this.syncBalancers();
  }

  async describeTargetHealth(targetGroup: string): Promise<TargetHealth[]> {
    return this.balancers.health(this.mustBalancerFor(targetGroup));
  }

  async trafficOf(targetGroup: string, groups: string[], since: Date): Promise<GroupTraffic[]> {
    return this.balancers.trafficOf(this.mustBalancerFor(targetGroup), groups, since);
  }

  /** The load balancer's failures as it sees them; `ended` hears a stream that broke (its process died). */
  watchTraffic(targetGroup: string, onEvent: (event: TrafficEvent) => void, ended?: () => void): TrafficSubscription {
    return { close: this.balancers.subscribe(this.mustBalancerFor(targetGroup), onEvent, ended) };
  }

  // ---- the loop that keeps groups at their capacity ---------------------------------------

  private reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileOnce()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'reconcile failed'))
      .finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    if (!this.balancers.alive()) {
      // The data plane's own process died: a new one, with every listener and its targets.
      this.options.logger.warn('the load balancer process exited; starting a new one');
      this.live.clear();
      this.pushed.clear();
      this.balancers = await this.openBalancers();
      await this.putAllBalancers();
    }
    let changed = false;
    for (const group of Object.values(this.state.serverGroups)) {
      if (group.destroying) continue;
      for (const instance of Object.values(group.instances)) {
        if (instance.lifecycle === 'running' && instance.pid && !isInstanceAlive(instance.pid, instance.id)) {
          this.options.logger.warn({ group: group.name, instance: instance.id }, 'instance exited; replacing it');
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
    if (changed) this.save();
    await this.syncBalancers();
    await this.rollLogs();
  }

  private async rollLogs(): Promise<void> {
    const files = Object.values(this.state.serverGroups).flatMap((group) =>
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
    const id = `i-${String(this.state.nextInstance++).padStart(6, '0')}`;
    const template = this.state.launchTemplates[group.launchTemplate]!;
    const instance: StoredInstance = {
      id,
      group: group.name,
      dir: join(this.instancesDir, id),
      port: 0,
      lifecycle: 'pending',
      launchedAt: new Date().toISOString(),
    };
    group.instances[id] = instance;
    this.launching.add(id);
    void (async () => {
      try {
        instance.port = await freePort();
        instance.pid = await launchProcess({
          id,
          dir: instance.dir,
          imageDir: join(this.imagesDir, template.imageId),
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
        this.launching.delete(id);
        this.save();
        void this.syncBalancers();
      }
    })();
  }

  private async terminate(group: StoredGroup, instance: StoredInstance): Promise<void> {
    await this.syncBalancers();
    if (instance.pid) await terminateProcess(instance.pid, instance.id);
    delete group.instances[instance.id];
    this.save();
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

  private async removeFolder(instance: StoredInstance): Promise<void> {
    // Only ever a folder of ours: instances/<id>.
    if (instance.dir === join(this.instancesDir, instance.id))
      await rm(instance.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Folders of instances the state no longer has (a daemon killed between an exit and its clean-up). */
  private async removeLeftoverFolders(): Promise<void> {
    const known = new Set(Object.values(this.state.serverGroups).flatMap((group) => Object.keys(group.instances)));
    for (const entry of await readdir(this.instancesDir).catch(() => [] as string[]))
      if (/^i-\d+$/.test(entry) && !known.has(entry))
        await rm(join(this.instancesDir, entry), { recursive: true, force: true }).catch(() => undefined);
  }

  /** Each load balancer's targets: its group's enabled running instances, plus and minus the hand-made changes. */
  private syncBalancers(): Promise<void> {
    const wanted = new Map<string, Targets>();
    for (const spec of Object.values(this.state.loadBalancers)) {
      if (!this.live.has(spec.name)) continue;
      const tg = spec.targetGroup.name;
      const members = new Set<string>();
      for (const group of Object.values(this.state.serverGroups)) {
        if (group.disabled || group.destroying || !group.targetGroups.includes(tg)) continue;
        for (const instance of Object.values(group.instances)) {
          if (instance.lifecycle === 'running') members.add(instance.id);
        }
      }
      for (const id of this.state.registered[tg] ?? []) {
        if (this.findInstance(id)?.lifecycle === 'running') members.add(id);
      }
      for (const id of this.state.deregistered[tg] ?? []) members.delete(id);
      const targets: Targets = {};
      for (const id of [...members].sort()) {
        const address = this.addressOfInstance(id);
        if (address) targets[id] = { address, group: this.findInstance(id)!.group };
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

  private async startBalancer(spec: LoadBalancerSpec): Promise<void> {
    const { name, port, protocol, targetGroup } = spec;
    await this.balancers.put({ name, port, protocol, targetGroup });
    this.live.add(name);
    this.pushed.delete(name);
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

  private async putAllBalancers(): Promise<void> {
    for (const spec of Object.values(this.state.loadBalancers)) {
      await this.startBalancer(spec).catch((error: Error) =>
        this.options.logger.error({ loadBalancer: spec.name, err: error }, 'load balancer cannot start'),
      );
    }
    await this.syncBalancers();
  }

  private addressOfInstance(id: string): string | undefined {
    const instance = this.findInstance(id);
    return instance && instance.lifecycle !== 'pending' && instance.port ? `127.0.0.1:${instance.port}` : undefined;
  }

  private describe(group: StoredGroup): ServerGroup {
    const instances: Instance[] = Object.values(group.instances).map((i) => ({
      id: i.id,
      lifecycle: i.lifecycle,
      launchedAt: i.launchedAt,
      ...(i.lifecycle !== 'pending' && i.port ? { address: `127.0.0.1:${i.port}` } : {}),
    }));
    return {
      name: group.name,
      cluster: parseServerGroupName(group.name)!.cluster,
      launchTemplate: group.launchTemplate,
      targetGroups: group.targetGroups,
      tags: group.tags,
      min: group.min,
      max: group.max,
      desired: group.desired,
      disabled: group.disabled,
      createdAt: group.createdAt,
      instances,
      ...(group.recentExits?.length ? { recentExits: group.recentExits } : {}),
    };
  }

  private mustGroup(name: string): StoredGroup {
    const group = this.state.serverGroups[name];
    if (!group || group.destroying) throw new NotFoundError(`no server group ${name}`);
    return group;
  }

  /** The name of the running load balancer that has this target group. */
  private mustBalancerFor(targetGroup: string): string {
    const spec = Object.values(this.state.loadBalancers).find((lb) => lb.targetGroup.name === targetGroup);
    if (!spec || !this.live.has(spec.name)) throw new NotFoundError(`no target group ${targetGroup}`);
    return spec.name;
  }

  private findInstance(id: string): StoredInstance | undefined {
    for (const group of Object.values(this.state.serverGroups)) {
      const instance = group.instances[id];
      if (instance) return instance;
    }
    return undefined;
  }

  private save(): void {
    saveState(this.stateFile, this.state);
  }
}

function checkCapacity({ min, desired, max }: Capacity): void {
  if (!(min <= desired && desired <= max)) {
    throw new InputError(`capacity must satisfy min ≤ desired ≤ max (${min}, ${desired}, ${max})`);
  }
}

function sameSpec<T extends object>(existing: T, spec: object): boolean {
  return Object.entries(spec).every(([key, value]) =>
    isDeepStrictEqual((existing as Record<string, unknown>)[key], value),
  );
}

function union(list: string[] | undefined, add: string[]): string[] {
  return [...new Set([...(list ?? []), ...add])];
}

function minus(list: string[] | undefined, remove: string[]): string[] {
  return (list ?? []).filter((id) => !remove.includes(id));
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
