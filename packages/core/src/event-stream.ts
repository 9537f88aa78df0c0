/**
 * Server-sent events over a Redis stream (a bake's log, a deployment's events): everything after
 * Last-Event-ID (or from the start), then each new entry as it is added, then an `end` event
 * once the thing is finished and nothing more is coming. Following blocks on a connection of
 * its own, closed with the response.
 */
import type { Request, Response } from 'express';

export interface StreamEntry {
  /** The Redis stream id, sent as the event id. */
  id: string;
  /** The event name; `message` when absent. */
  event?: string;
  data: string;
}

export interface EventStreamSource {
  /** Entries after `after` (`0-0`: from the start). */
  read(after: string): Promise<StreamEntry[]>;
  /** Blocks up to `ms` for entries after `after`. */
  follow(after: string, ms: number): Promise<StreamEntry[]>;
  /** The `end` event's data once finished, else undefined. */
  finished(): Promise<unknown | undefined>;
  close(): void;
}

export async function sendEventStream(req: Request, res: Response, source: EventStreamSource): Promise<void> {
  res.status(200).setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-cache');
  res.flushHeaders();
  let closed = false;
  req.on('close', () => (closed = true));
  const given = req.headers['last-event-id'];
  let after = typeof given === 'string' && /^\d+-\d+$/.test(given) ? given : '0-0';
  const send = (entries: StreamEntry[]) => {
    for (const entry of entries) {
      const event = entry.event ? `event: ${entry.event}\n` : '';
      res.write(`id: ${entry.id}\n${event}data: ${entry.data.split('\n').join('\ndata: ')}\n\n`);
      after = entry.id;
    }
  };
  try {
    send(await source.read(after));
    while (!closed) {
      const end = await source.finished();
      const entries = await source.follow(after, end === undefined ? 1000 : 1);
      send(entries);
      if (end !== undefined && entries.length === 0) {
        res.write(`event: end\ndata: ${JSON.stringify(end)}\n\n`);
        break;
      }
    }
  } finally {
    source.close();
    res.end();
  }
}
