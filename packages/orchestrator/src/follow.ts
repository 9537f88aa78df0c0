/**
 * A record's events (a deployment's or a release's) as server-sent events: from the start or after
 * the `Last-Event-ID` the follower sends, each entry as it comes, and an `end` with the outcome once
 * the record is finished. One reading for both, so a follower of either resumes the same way.
 */
import { sendEventStream } from '@slipway/core';
import { type StreamConnection } from '@slipway/core/redis';
import type { Request, Response } from 'express';

type Entry = { id: string; event: { type: string } };

/** What a record's events are read from: the deployment store or the release store. */
export interface EventsOf<R> {
  get(id: string): Promise<R | undefined>;
  events(id: string, after?: string): Promise<Entry[]>;
  follow(connection: StreamConnection, id: string, after: string, ms: number): Promise<Entry[]>;
}

export function followEvents<R extends { state: string; reason?: string | null }>(
  req: Request,
  res: Response,
  options: { id: string; store: EventsOf<R>; connection: StreamConnection; isFinished: (record: R) => boolean },
): Promise<void> {
  const { id, store, connection } = options;
  const entries = (list: Entry[]) =>
    list.map((e) => ({ id: e.id, event: e.event.type, data: JSON.stringify(e.event) }));
  return sendEventStream(req, res, {
    read: async (after) => entries(await store.events(id, after === '0-0' ? undefined : after)),
    follow: async (after, ms) => entries(await store.follow(connection, id, after, ms)),
    async finished() {
      const current = await store.get(id);
      return !current || options.isFinished(current)
        ? { state: current?.state, reason: current?.reason ?? null }
        : undefined;
    },
    close: () => connection.disconnect(),
  });
}
