/**
 * Path templates as regular expressions, and their order: at the first segment where two
 * templates differ, a literal segment beats a parameter, and a parameter beats one that may
 * span segments (`x-slashes`). So `/a/static/{y}` wins over `/a/{x}/latest` for
 * `/a/static/latest`, whatever order the document lists them in.
 */

export interface PathTemplate {
  template: string;
  regex: RegExp;
  /** The path parameters' names, in the order of the regex's groups. */
  names: string[];
  /** Per segment: 0 literal, 1 parameter (or a literal with one), 2 may span segments. */
  rank: number[];
}

export function compilePath(template: string, spanning: ReadonlySet<string>): PathTemplate {
  const names: string[] = [];
  const rank: number[] = [];
  const source = template
    .split('/')
    .map((segment) => {
      let segmentRank = 0;
      const pattern = segment.replace(/\{([^}]+)\}|[^{]+/g, (part, name: string | undefined) => {
        if (name === undefined) return escapeRegex(part);
        names.push(name);
        segmentRank = Math.max(segmentRank, spanning.has(name) ? 2 : 1);
        return spanning.has(name) ? '(.+)' : '([^/]+)';
      });
      rank.push(segmentRank);
      return pattern;
    })
    .join('/');
  return { template, regex: new RegExp(`^${source}/?$`), names, rank };
}

/** Sorts templates so that the first one whose regex matches a path is the most specific. */
export function byPrecedence(a: PathTemplate, b: PathTemplate): number {
  const length = Math.min(a.rank.length, b.rank.length);
  for (let i = 0; i < length; i++) {
    if (a.rank[i] !== b.rank[i]) return a.rank[i]! - b.rank[i]!;
  }
  return b.rank.length - a.rank.length;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
