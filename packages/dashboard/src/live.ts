/**
 * Live sections for every viewer from one poll per page: the first viewer of a page starts its
 * poll, the last one to leave stops it, and each change is sent to all of them. A new viewer gets
 * the sections as last read, at once.
 */
import type { Logger } from '@slipway/core';
import type { Html } from './html.js';

export type Sections = Record<string, Html> | undefined;
export type Send = (name: string, html: string) => void;

interface Feed {
  viewers: Set<Send>;
  last: Map<string, string>;
  timer?: NodeJS.Timeout;
}

export function createLiveFeeds(read: (key: string) => Promise<Sections>, refreshMs: number, logger: Logger) {
  const feeds = new Map<string, Feed>();

  async function poll(key: string, feed: Feed): Promise<void> {
    try {
      const sections = await read(key);
      for (const [name, body] of Object.entries(sections ?? {})) {
        const text = body.toString();
        if (feed.last.get(name) === text) continue;
        feed.last.set(name, text);
        for (const send of feed.viewers) send(name, text);
      }
    } catch (error) {
      logger.warn({ err: error }, 'live refresh failed');
    }
    if (feeds.get(key) === feed && feed.viewers.size > 0)
      feed.timer = setTimeout(() => void poll(key, feed), refreshMs);
  }

  return {
    /** Starts sending `key`'s sections to `send`; answers the function that stops it. */
    watch(key: string, send: Send): () => void {
      let feed = feeds.get(key);
      if (!feed) {
        feed = { viewers: new Set(), last: new Map() };
        feeds.set(key, feed);
        feed.viewers.add(send);
        void poll(key, feed);
      } else {
        feed.viewers.add(send);
        for (const [name, text] of feed.last) send(name, text);
      }
      const mine = feed;
      return () => {
        mine.viewers.delete(send);
        if (mine.viewers.size === 0) {
          clearTimeout(mine.timer);
          feeds.delete(key);
        }
      };
    },
    /** Whether a poll of `key` runs now (a new viewer of it costs nothing more). */
    following(key: string): boolean {
      return feeds.has(key);
    },
    /** How many polls run now (one per page being viewed). */
    get polls(): number {
      return feeds.size;
    },
  };
}
