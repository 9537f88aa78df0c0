/**
 * The local cloud's state, one JSON file, replaced whole on every change (write then rename).
 * Its maps have no prototype, so a name like `constructor` or `__proto__` is just a missing key.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Capacity, InstanceExit, LaunchTemplate, LifecycleState, LoadBalancer } from '../provider.js';

export interface StoredInstance {
  id: string;
  group: string;
  dir: string;
  port: number;
  pid?: number;
  lifecycle: LifecycleState;
  launchedAt: string;
}

export interface StoredGroup extends Capacity {
  name: string;
  launchTemplate: string;
  targetGroups: string[];
  tags: Record<string, string>;
  disabled: boolean;
  destroying: boolean;
  createdAt: string;
  instances: Record<string, StoredInstance>;
  /** Its last instances that exited on their own, oldest first (at most 5). */
  recentExits?: InstanceExit[];
}

export interface LocalState {
  launchTemplates: Record<string, LaunchTemplate>;
  serverGroups: Record<string, StoredGroup>;
  loadBalancers: Record<string, LoadBalancer>;
  /** Target group → instance ids registered by hand (beyond their group's attachment). */
  registered: Record<string, string[]>;
  /** Target group → instance ids deregistered by hand (though their group is attached). */
  deregistered: Record<string, string[]>;
  nextInstance: number;
}

/** A map keyed by names that come from requests: no inherited keys. */
export function dict<T>(entries: Record<string, T> = {}): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

export function emptyState(): LocalState {
  return {
    launchTemplates: dict(),
    serverGroups: dict(),
    loadBalancers: dict(),
    registered: dict(),
    deregistered: dict(),
    nextInstance: 1,
  };
}

export function loadState(file: string): LocalState {
  if (!existsSync(file)) return emptyState();
  const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalState>;
  const serverGroups = dict(stored.serverGroups);
  for (const group of Object.values(serverGroups)) group.instances = dict(group.instances);
  return {
    launchTemplates: dict(stored.launchTemplates),
    serverGroups,
    loadBalancers: dict(stored.loadBalancers),
    registered: dict(stored.registered),
    deregistered: dict(stored.deregistered),
    nextInstance: stored.nextInstance ?? 1,
  };
}

export function saveState(file: string, state: LocalState): void {
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(state, null, 1));
  renameSync(partial, file);
}

/** An instance of any group, by its id. */
export function findInstance(state: LocalState, id: string): StoredInstance | undefined {
  for (const group of Object.values(state.serverGroups)) {
    const instance = group.instances[id];
    if (instance) return instance;
  }
  return undefined;
}
