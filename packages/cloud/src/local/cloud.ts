/**
 * The local cloud's engine, behind the same CloudProvider interface as AWS. Server groups keep
 * `desired` instances alive like an auto scaling group (an instance that exits is replaced);
 * load balancers are real proxies; an enabled group's running instances are registered with its
 * target groups, a disabled group's are drained. State survives a restart: on start it adopts
 * the instances whose processes still live and replaces the rest, and (detached) the load
 * balancer process, which keeps serving while the daemon is down.
 *
 * This class is the facade and the state's keeper (launch templates, groups, load balancers as
 * records); its concerns live beside it: images.ts (image directories), fleet.ts (the loop that
 * keeps groups at capacity, instances as processes), balancer-sync.ts (listeners and targets).
 */
import { checkLoadBalancerSpec, checkUserData } from '../bounds.js';
import { ConflictError, InputError, NotFoundError, parseServerGroupName, type Logger } from '@slipway/core';
import { mkdir } from 'node:fs/promises';
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
import { BalancerSync } from './balancer-sync.js';
import { Fleet } from './fleet.js';
import { IMAGE_ID, LocalImages } from './images.js';
import { isInstanceAlive, terminateProcess } from './instances.js';
import type { LogRollOptions } from './log-files.js';
import { dict, findInstance, loadState, saveState, type LocalState, type StoredGroup } from './state.js';

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

export class LocalCloud implements CloudProvider {
  readonly kind = 'local' as const;
  readonly healthSource = 'http' as const;

  async ping(): Promise<void> {}
  private readonly stateFile: string;
  private readonly instancesDir: string;
  private state!: LocalState;
  private readonly images: LocalImages;
  /** The load balancers' listeners and targets, kept in step with the state. */
  private readonly targets: BalancerSync;
  /** The loop that keeps each group at its capacity. */
  private readonly fleet: Fleet;

  constructor(private readonly options: LocalCloudOptions) {
    this.stateFile = join(options.home, 'cloud', 'state.json');
    this.instancesDir = join(options.home, 'cloud', 'instances');
    this.images = new LocalImages(join(options.home, 'images'));
    const state = () => this.state;
    this.targets = new BalancerSync(options, state);
    this.fleet = new Fleet({
      ...options,
      imagesDir: this.images.dir,
      instancesDir: this.instancesDir,
      state,
      save: () => this.save(),
      targets: this.targets,
    });
  }

  async start(): Promise<void> {
    await mkdir(this.instancesDir, { recursive: true });
    await mkdir(this.images.dir, { recursive: true });
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
    await this.fleet.removeLeftoverFolders();
    await this.targets.open();
    this.save();
    this.options.logger.info({ adopted }, 'local cloud started');
    await this.fleet.start();
  }

  /** Stops the load balancers and, unless `keepInstances`, every instance it runs. */
  async stop({ keepInstances = false }: { keepInstances?: boolean } = {}): Promise<void> {
    await this.fleet.stop();
    await this.targets.close({ keep: keepInstances });
    if (keepInstances) return;
    const all = Object.values(this.state.serverGroups).flatMap((group) => Object.values(group.instances));
    await Promise.all(all.map((instance) => (instance.pid ? terminateProcess(instance.pid, instance.id) : undefined)));
    for (const group of Object.values(this.state.serverGroups)) group.instances = dict();
    this.save();
  }

  // ---- images: directories the baking service writes; read here --------------------------

  async getImage(id: string): Promise<Image | undefined> {
    return this.images.get(id);
  }

  async listImages(filter: { service?: string; kind?: ImageKind } = {}): Promise<Image[]> {
    return this.images.list(filter);
  }

  async deregisterImage(id: string): Promise<void> {
    if (!IMAGE_ID.test(id)) throw new InputError(`invalid image id ${id}`);
    // Its instances run from its directory: an image in use stays, whoever asks.
    const user = Object.values(this.state.serverGroups).find(
      (g) => this.state.launchTemplates[g.launchTemplate]?.imageId === id,
    );
    if (user) throw new ConflictError(`image ${id} is used by server group ${user.name}: destroy the group first`);
    await this.images.remove(id);
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
    void this.fleet.reconcile();
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
      if (serving.has(spec.targetGroup.name) && this.targets.isLive(spec.name))
        targetHealth[spec.targetGroup.name] = await this.targets.health(spec.name);
    return { groups: groups.map((g) => this.describe(g)), targetHealth };
  }

  async resizeServerGroup(name: string, capacity: Capacity): Promise<ServerGroup> {
    checkCapacity(capacity);
    const group = this.mustGroup(name);
    Object.assign(group, { min: capacity.min, max: capacity.max, desired: capacity.desired });
    this.save();
    void this.fleet.reconcile();
    return this.describe(group);
  }

  async disableServerGroup(name: string): Promise<ServerGroup> {
    const group = this.mustGroup(name);
    group.disabled = true;
    this.save();
    await this.targets.sync();
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
    await this.targets.sync();
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
    await this.targets.sync();
    await Promise.all(
      Object.values(group.instances).map(async (instance) => {
        instance.lifecycle = 'terminating';
        if (instance.pid) await terminateProcess(instance.pid, instance.id);
        await this.fleet.removeFolder(instance);
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
      if (!this.targets.isLive(spec.name)) await this.targets.start(existing);
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
    await this.targets.start(balancer);
    this.state.loadBalancers[spec.name] = balancer;
    this.save();
    await this.targets.sync();
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
    await this.targets.start(updated);
    this.state.loadBalancers[spec.name] = updated;
    this.save();
    await this.targets.sync();
    return updated;
  }

  async getLoadBalancer(name: string): Promise<LoadBalancer | undefined> {
    return this.state.loadBalancers[name];
  }

  async listLoadBalancers(): Promise<LoadBalancer[]> {
    return Object.values(this.state.loadBalancers);
  }

  async deleteLoadBalancer(name: string): Promise<void> {
    await this.targets.delete(name);
    delete this.state.loadBalancers[name];
    this.save();
  }

  async registerTargets(targetGroup: string, instanceIds: string[]): Promise<void> {
    this.targets.mustBalancerFor(targetGroup);
    const unknown = instanceIds.filter((id) => !findInstance(this.state, id));
    if (unknown.length) throw new NotFoundError(`no instance ${unknown.join(', ')}`);
    this.state.registered[targetGroup] = union(this.state.registered[targetGroup], instanceIds);
    this.state.deregistered[targetGroup] = minus(this.state.deregistered[targetGroup], instanceIds);
    this.save();
    await this.targets.sync();
  }

  async deregisterTargets(targetGroup: string, instanceIds: string[]): Promise<void> {
    this.targets.mustBalancerFor(targetGroup);
    this.state.registered[targetGroup] = minus(this.state.registered[targetGroup], instanceIds);
    this.state.deregistered[targetGroup] = union(this.state.deregistered[targetGroup], instanceIds);
    this.save();
    await this.targets.sync();
  }

  async describeTargetHealth(targetGroup: string): Promise<TargetHealth[]> {
    return this.targets.health(this.targets.mustBalancerFor(targetGroup));
  }

  async trafficOf(targetGroup: string, groups: string[], since: Date): Promise<GroupTraffic[]> {
    return this.targets.trafficOf(this.targets.mustBalancerFor(targetGroup), groups, since);
  }

  /** The load balancer's failures as it sees them; `ended` hears a stream that broke (its process died). */
  watchTraffic(targetGroup: string, onEvent: (event: TrafficEvent) => void, ended?: () => void): TrafficSubscription {
    return { close: this.targets.subscribe(this.targets.mustBalancerFor(targetGroup), onEvent, ended) };
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
