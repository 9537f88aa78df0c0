/**
 * What a service's metadata says about changing one of its environments, read in one place: the
 * metadata service refuses a `policy` it cannot read, and the orchestrator enforces it on every
 * path (API, CLI, Slack, releases, promotions, reverts, undos).
 *
 * - `production` (an environment or sync set name, a list of them, or `true` for all) marks
 *   production: a change there needs a confirmation naming what it changes (from → to).
 * - `policy`, by environment or sync set name: `{"live": {"production": true,
 *   "requireConfirmation": true, "approvers": ["alice"], "freeze": [{"from": "…", "to": "…",
 *   "reason": "…"}]}}`. A set's policy holds for each of its clusters; a cluster's own adds to it.
 */
import { isRecord as isObject, syncSetOf } from './sync-sets.js';

export interface Freeze {
  from: string;
  to: string;
  reason?: string;
}

export interface EnvironmentPolicy {
  production: boolean;
  /** A change needs a confirmation naming it (from → to): production's default. */
  requireConfirmation: boolean;
  /** When not empty, only these people may change the environment. */
  approvers: string[];
  /** Windows in which nothing but an undo or a rollback may change it. */
  freezes: Freeze[];
}

interface DeclaredPolicy {
  production?: boolean;
  requireConfirmation?: boolean;
  approvers?: string[];
  freeze?: Freeze[];
}

const FIELDS = new Set(['production', 'requireConfirmation', 'approvers', 'freeze']);

/** What is wrong with a `policy` property, each in words; empty when it reads well. */
export function policyProblems(value: unknown): string[] {
  if (!isObject(value)) return ['policy is an object of environment (or sync set) names, each with its rules'];
  const problems: string[] = [];
  for (const [env, rules] of Object.entries(value)) {
    const at = `policy.${env}`;
    if (!isObject(rules)) {
      problems.push(`${at} is an object: production, requireConfirmation, approvers, freeze`);
      continue;
    }
    for (const key of Object.keys(rules))
      if (!FIELDS.has(key))
        problems.push(`${at}.${key} is not a rule (production, requireConfirmation, approvers, freeze)`);
    for (const flag of ['production', 'requireConfirmation'])
      if (flag in rules && typeof rules[flag] !== 'boolean') problems.push(`${at}.${flag} is true or false`);
    if ('approvers' in rules) {
      const approvers = rules.approvers;
      if (!Array.isArray(approvers) || approvers.some((a) => typeof a !== 'string' || a.length === 0 || a.length > 128))
        problems.push(`${at}.approvers is a list of the people (token subjects) who may change it`);
    }
    if ('freeze' in rules) {
      const freeze = rules.freeze;
      if (!Array.isArray(freeze)) problems.push(`${at}.freeze is a list of {from, to, reason} windows`);
      else
        freeze.forEach((window, i) => {
          const where = `${at}.freeze[${i}]`;
          if (!isObject(window)) return problems.push(`${where} is {from, to, reason}`);
          const from = Date.parse(String(window.from));
          const to = Date.parse(String(window.to));
          if (typeof window.from !== 'string' || Number.isNaN(from))
            problems.push(`${where}.from is a date and time (2025-12-20T00:00:00Z)`);
          if (typeof window.to !== 'string' || Number.isNaN(to))
            problems.push(`${where}.to is a date and time (2026-01-02T00:00:00Z)`);
          else if (!Number.isNaN(from) && to <= from) problems.push(`${where} ends before it starts`);
          if ('reason' in window && typeof window.reason !== 'string') problems.push(`${where}.reason is text`);
        });
    }
  }
  return problems;
}

/** The environments and sets `production` names (`true`: every one). */
function productionNames(properties: Record<string, unknown>): string[] | true {
  const marked = properties.production;
  if (marked === true) return true;
  return typeof marked === 'string' ? [marked] : Array.isArray(marked) ? marked.map(String) : [];
}

/** The names the rule properties speak of (`policy`'s keys, `production`'s names): sync sets among them have rules. */
export function governedSets(properties: Record<string, unknown> | undefined): string[] {
  const production = productionNames(properties ?? {});
  const policy = isObject(properties?.policy) ? Object.keys(properties.policy) : [];
  return [...new Set([...policy, ...(production === true ? [] : production)])];
}

function names(properties: Record<string, unknown>, env: string, set: string | undefined): boolean {
  const listed = productionNames(properties);
  return listed === true || listed.includes(env) || (set !== undefined && listed.includes(set));
}

/** The rules for changing `env` (a cluster, or a sync set named as a whole). */
export function policyOf(properties: Record<string, unknown>, env: string): EnvironmentPolicy {
  const set = syncSetOf(properties, env);
  const declared = isObject(properties.policy) ? properties.policy : {};
  const own = [declared[env], set === undefined ? undefined : declared[set]].filter(isObject) as DeclaredPolicy[];
  const production = names(properties, env, set) || own.some((p) => p.production === true);
  const explicit = own.find((p) => typeof p.requireConfirmation === 'boolean')?.requireConfirmation;
  return {
    production,
    requireConfirmation: explicit ?? production,
    approvers: [...new Set(own.flatMap((p) => (Array.isArray(p.approvers) ? p.approvers : [])))],
    freezes: own.flatMap((p) => (Array.isArray(p.freeze) ? p.freeze.filter(isObject) : [])) as Freeze[],
  };
}

/** The freeze window in force at `at`, if any. */
export function activeFreeze(policy: EnvironmentPolicy, at = Date.now()): Freeze | undefined {
  return policy.freezes.find((f) => Date.parse(f.from) <= at && at < Date.parse(f.to));
}
