/**
 * What undo goes back to: the release before what serves now. Normally what serves is the newest
 * release, and undo deploys the one before it. A failed deployment whose rollback could not finish
 * leaves its own group in service, which no release records: then the newest release is the one
 * it replaced, and undo deploys that — never one release further back.
 */
import type { Release } from './store.js';

export interface UndoTarget {
  /** The deployment being undone (what serves now), when known. */
  current: { deployment?: string };
  previous: Release;
}

export function undoTarget(
  releases: Release[],
  serving: { name: string; deployment?: string } | null | undefined,
): UndoTarget | undefined {
  const [newest, before] = releases;
  if (!newest) return undefined;
  if (serving && serving.name !== newest.group)
    return { current: serving.deployment ? { deployment: serving.deployment } : {}, previous: newest };
  return before ? { current: newest, previous: before } : undefined;
}
