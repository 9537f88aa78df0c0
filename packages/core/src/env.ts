/** Services are configured only by environment; these read it with the runtime contract's defaults. */
import { resolve } from 'node:path';

export const PORT_OFFSETS = {
  dashboard: 0,
  metadata: 1,
  config: 2,
  baking: 3,
  infra: 4,
  orchestrator: 5,
  chat: 6,
  cloud: 10,
} as const;

export type ComponentName = keyof typeof PORT_OFFSETS;

export function portBase(env: NodeJS.ProcessEnv = process.env): number {
  return intFromEnv(env, 'SLIPWAY_PORT_BASE', 7100);
}

export function defaultPort(component: ComponentName, env: NodeJS.ProcessEnv = process.env): number {
  return portBase(env) + PORT_OFFSETS[component];
}

export function slipwayHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SLIPWAY_HOME ?? '.slipway');
}

export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

export function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw new Error(`${name} must be an integer, not '${value}'`);
  return parsed;
}
