/**
 * What undo goes back to: the entry of the cluster's history before what serves now. Normally
 * what serves is the newest entry, and undo deploys the one before it. A failed deployment whose
 * rollback could not finish leaves its own group in service, which the history does not record:
 * then the newest entry is the one it replaced, and undo deploys that — never one further back.
 */
import type { Served } from './store.js';

export interface UndoTarget {
  /** The deployment being undone (what serves now), when known. */
  current: { deployment?: string };
  previous: Served;
}

export function undoTarget(
  history: Served[],
  serving: { name: string; deployment?: string } | null | undefined,
): UndoTarget | undefined {
  const [newest, before] = history;
  if (!newest) return undefined;
  if (serving && serving.name !== newest.group)
    return { current: serving.deployment ? { deployment: serving.deployment } : {}, previous: newest };
  return before ? { current: newest, previous: before } : undefined;
}
