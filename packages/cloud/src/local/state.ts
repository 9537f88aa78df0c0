/** The local cloud's state, one JSON file, replaced whole on every change (write then rename). */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Capacity, LaunchTemplate, LifecycleState, LoadBalancer } from '../provider.js';

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

export function emptyState(): LocalState {
  return {
    launchTemplates: {},
    serverGroups: {},
    loadBalancers: {},
    registered: {},
    deregistered: {},
    nextInstance: 1,
  };
}

export function loadState(file: string): LocalState {
  if (!existsSync(file)) return emptyState();
  return { ...emptyState(), ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalState>) };
}

export function saveState(file: string, state: LocalState): void {
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(state, null, 1));
  renameSync(partial, file);
}
