/**
 * A plan: the definitions at one commit against the resources as they stand, resource by
 * resource, in the order an apply would take them. It is computed against the stack's state
 * serial; an apply of a plan whose stack has moved on is refused.
 */
import { isDeepStrictEqual } from 'node:util';
import { applyOrder, type Resource, type ResourceKind, type Stack } from './stack.js';

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'no-op';

export interface FieldChange {
  field: string;
  old?: unknown;
  new?: unknown;
}

export interface PlannedChange {
  resource: string;
  kind: ResourceKind;
  action: Action;
  changes: FieldChange[];
  /** The resource as the plan saw it (absent: it did not exist). */
  before?: Resource;
  /** The resource as the apply leaves it (absent: deleted). */
  after?: Resource;
  note?: string;
}

export interface Plan {
  id: string;
  stack: string;
  ref: string;
  commit: string;
  /** The stack's region (stacks/<stack>.yaml), where its resources are. */
  region?: string;
  serial: number;
  allowDelete: boolean;
  changes: PlannedChange[];
  summary: Record<Action, number>;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  state: 'planned' | 'applying' | 'applied' | 'failed';
  applyId?: string;
}

/** Fields whose change cannot be made in place. */
const REPLACED_BY: Partial<Record<ResourceKind, string[]>> = {
  loadBalancer: ['targetGroup.name'],
  securityGroup: ['description'],
};

export function diffFields(before: unknown, after: unknown, prefix = ''): FieldChange[] {
  if (isDeepStrictEqual(before, after)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(before) || !isObject(after) || prefix.startsWith('policies.') || prefix === 'trustPolicy') {
    return [
      {
        field: prefix,
        ...(before === undefined ? {} : { old: before }),
        ...(after === undefined ? {} : { new: after }),
      },
    ];
  }
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((key) => diffFields(before[key], after[key], prefix ? `${prefix}.${key}` : key));
}

function fieldsOf(before: object, after: object): FieldChange[] {
  return diffFields(before, after).filter((c) => c.field !== 'kind');
}

/**
 * What to do for each resource. `managed`: resources this stack made (from its state); only
 * those can be deleted, and only when `allowDelete` was asked for.
 */
export function planChanges(
  stack: Stack,
  actual: Record<string, Resource | undefined>,
  managed: Record<string, Resource>,
  allowDelete: boolean,
): PlannedChange[] {
  const changes: PlannedChange[] = [];
  for (const name of applyOrder(stack.resources).order) {
    const after = stack.resources[name]!;
    const before = actual[name];
    if (!before) {
      changes.push({ resource: name, kind: after.kind, action: 'create', changes: fieldsOf({}, after), after });
      continue;
    }
    const fields = fieldsOf(before, after);
    if (fields.length === 0) {
      changes.push({ resource: name, kind: after.kind, action: 'no-op', changes: [], before, after });
      continue;
    }
    const replaced = fields.filter((c) => REPLACED_BY[after.kind]?.includes(c.field));
    if (replaced.length === 0) {
      changes.push({ resource: name, kind: after.kind, action: 'update', changes: fields, before, after });
    } else if (allowDelete) {
      changes.push({
        resource: name,
        kind: after.kind,
        action: 'replace',
        changes: fields,
        before,
        after,
        note: `${replaced.map((c) => c.field).join(', ')} cannot change in place: deleted, then created`,
      });
    } else {
      changes.push({
        resource: name,
        kind: after.kind,
        action: 'no-op',
        changes: fields,
        before,
        after: before,
        note: `${replaced.map((c) => c.field).join(', ')} cannot change in place; plan with allowDelete to replace it`,
      });
    }
  }
  const removed = Object.keys(managed)
    .filter((name) => !(name in stack.resources))
    .sort();
  // Deleted in the reverse of their creation order: load balancers before their security groups.
  for (const name of applyOrder(Object.fromEntries(removed.map((n) => [n, managed[n]!]))).order.reverse()) {
    const before = actual[name];
    const kind = managed[name]!.kind;
    if (!before) continue;
    changes.push(
      allowDelete
        ? { resource: name, kind, action: 'delete', changes: fieldsOf(before, {}), before }
        : {
            resource: name,
            kind,
            action: 'no-op',
            changes: [],
            before,
            after: before,
            note: 'no longer defined; kept (plan with allowDelete to delete it)',
          },
    );
  }
  return changes;
}

export function summarise(changes: PlannedChange[]): Record<Action, number> {
  const summary: Record<Action, number> = { create: 0, update: 0, replace: 0, delete: 0, 'no-op': 0 };
  for (const change of changes) summary[change.action]++;
  return summary;
}

export function sameResource(a: Resource | undefined, b: Resource | undefined): boolean {
  return isDeepStrictEqual(a, b);
}
