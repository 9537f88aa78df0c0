/** Changes as a person reads them: `+ key=value`, `- key`, `~ key: old → new`. */
import { green, line, red, yellow } from './output.js';

export interface KeyChanges {
  added: Record<string, unknown>;
  removed: Record<string, unknown>;
  changed: Record<string, { old?: unknown; new?: unknown }>;
}

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

export function diffLines(change: KeyChanges): string[] {
  return [
    ...Object.entries(change.added).map(([k, v]) => green(`+ ${k}=${text(v)}`)),
    ...Object.entries(change.removed).map(([k]) => red(`- ${k}`)),
    ...Object.entries(change.changed).map(([k, v]) => yellow(`~ ${k}: ${text(v.old)} → ${text(v.new)}`)),
  ];
}

export function printDiff(change: KeyChanges, indent = ''): void {
  const lines = diffLines(change);
  if (lines.length === 0) line(`${indent}no change`);
  for (const l of lines) line(`${indent}${l}`);
}

/** The key changes between two flat objects. */
export function compare(before: Record<string, unknown>, after: Record<string, unknown>): KeyChanges {
  const change: KeyChanges = { added: {}, removed: {}, changed: {} };
  for (const [k, v] of Object.entries(after)) {
    if (!(k in before)) change.added[k] = v;
    else if (JSON.stringify(before[k]) !== JSON.stringify(v)) change.changed[k] = { old: before[k], new: v };
  }
  for (const k of Object.keys(before)) if (!(k in after)) change.removed[k] = before[k];
  return change;
}
