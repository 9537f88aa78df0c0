/**
 * The home page answers with what needs attention first and no more than a screenful: at a
 * company's size (thousands of clusters) rendering every one made the page take a second. The
 * whole lists are pages of their own (/clusters, /services, /sync), read a page at a time: the
 * clusters and services asked of their service a page at a time (offset and limit), so that no
 * page reads, or describes, more than it shows.
 */
import { Html, html } from './html.js';

/** Clusters and sync sets on the home page. */
export const HOME_SHOWN = 20;
/** Clusters or sync sets on a page of /clusters or /sync. */
export const PAGE_SIZE = 100;

/** The items needing attention first (each list keeps its order), cut to `shown`. */
export function attentionFirst<T>(items: T[], needsAttention: (item: T) => boolean, shown: number): T[] {
  const first = items.filter(needsAttention);
  return (first.length >= shown ? first : [...first, ...items.filter((i) => !needsAttention(i))]).slice(0, shown);
}

/** The page asked for (`?page=`, 1-based; anything else is the first). */
export function pageAsked(asked: unknown): number {
  return typeof asked === 'string' && /^[1-9][0-9]{0,6}$/.test(asked) ? Number(asked) : 1;
}

/** How many pages `count` items make (one, however few). */
export const pagesOf = (count: number, size = PAGE_SIZE) => Math.max(1, Math.ceil(count / size));

/** The page asked for of a list read whole, never past the last. */
export function pageOf<T>(items: T[], asked: unknown, size = PAGE_SIZE): { items: T[]; page: number; pages: number } {
  const pages = pagesOf(items.length, size);
  const n = Math.min(pageAsked(asked), pages);
  return { items: items.slice((n - 1) * size, n * size), page: n, pages };
}

/**
 * The page asked for of a list its service pages (`read` answers a page and how many there are in
 * all): one read, and a second only when the page asked is past the last (the last is shown).
 */
export async function pageRead<T>(
  asked: unknown,
  read: (page: number) => Promise<T>,
  count: (answer: T) => number,
): Promise<{ answer: T; page: number; pages: number }> {
  const page = pageAsked(asked);
  const answer = await read(page);
  const pages = pagesOf(count(answer));
  return page <= pages ? { answer, page, pages } : { answer: await read(pages), page: pages, pages };
}

/** What the home page left out, in words, with links to the whole list and to what needs attention. */
export function homeSummary(
  what: string,
  counts: { total: number; attention: number; shown: number },
  path: string,
  needing = 'needing attention',
): Html {
  const { total, attention, shown } = counts;
  if (total <= shown) return html``;
  return html`<p class="muted" data-summary="${what}">
    ${total} ${what}, ${attention} ${needing}; showing ${shown}, those ${needing} first ·
    ${attention > 0 ? html`<a href="${path}?attention=1">those ${needing}</a> ·` : ''}
    <a href="${path}">all ${total}</a>
  </p>`;
}

/** Previous and next links of a paged list, keeping its filter. */
export function pager(path: string, page: number, pages: number, attention: boolean): Html {
  if (pages <= 1) return html``;
  const href = (n: number) => `${path}?${attention ? 'attention=1&' : ''}page=${n}`;
  return html`<nav class="pager" data-page="${page}" data-pages="${pages}">
    ${page > 1 ? html`<a rel="prev" href="${href(page - 1)}">previous</a>` : ''}
    <span class="muted">page ${page} of ${pages}</span>
    ${page < pages ? html`<a rel="next" href="${href(page + 1)}">next</a>` : ''}
  </nav>`;
}
