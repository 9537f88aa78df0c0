/**
 * Which of two images is newer, as a promotion (Kargo's forward-only rule) and a downgrade warning
 * need it: by their versions when both read as semantic versions (`1.10.0` after `1.9.2`, a
 * pre-release before its release), else by when each was made.
 */
import semver from 'semver';

export interface Versioned {
  version?: string | null;
  createdAt?: string | null;
}

const parsed = (version: string) => semver.parse(version) ?? semver.coerce(version, { includePrerelease: true });

/** Negative when `a` is older than `b`, 0 for the same version, positive when newer; undefined when it cannot be told. */
export function compareVersions(a: Versioned, b: Versioned): number | undefined {
  if (a.version && b.version) {
    if (a.version === b.version) return 0;
    const [x, y] = [parsed(a.version), parsed(b.version)];
    const order = x && y ? semver.compare(x, y) : 0;
    if (order !== 0) return order;
  }
  const [madeA, madeB] = [Date.parse(a.createdAt ?? ''), Date.parse(b.createdAt ?? '')];
  if (Number.isNaN(madeA) || Number.isNaN(madeB)) return undefined;
  return Math.sign(madeA - madeB);
}
