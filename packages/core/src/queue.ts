/**
 * BullMQ queues and workers, their connection always given (never a module singleton).
 * They get connection options, not a connection: BullMQ closes only the connections it made,
 * so a shared one would outlive `close()`. BullMQ keeps its keys under its own `prefix`, not
 * ioredis' keyPrefix, which it does not support.
 */
import {
  Queue,
  QueueEvents,
  Worker,
  type Processor,
  type QueueEventsOptions,
  type QueueOptions,
  type RedisOptions,
  type WorkerOptions,
} from 'bullmq';
import { sentinelOptions, type SentinelTarget } from './redis.js';

export interface QueueConnectionOptions {
  url: string;
  /** BullMQ key prefix, e.g. `slipway:orchestrator`. */
  prefix: string;
  /** Redis Sentinel: BullMQ's connections follow the primary the sentinels name. */
  sentinels?: SentinelTarget;
}

/** BullMQ's own connection options for a `redis://` or `rediss://` URL (or Sentinel); workers block, hence no retry cap. */
export function queueConnectionOptions(url: string, sentinels?: SentinelTarget): RedisOptions {
  return sentinels
    ? ({ ...sentinelOptions(sentinels, url), maxRetriesPerRequest: null } as RedisOptions)
    : { url, maxRetriesPerRequest: null };
}

export function createQueue<Data = unknown, Result = unknown>(
  name: string,
  { url, prefix, sentinels }: QueueConnectionOptions,
  options: Omit<QueueOptions, 'connection' | 'prefix'> = {},
): Queue<Data, Result> {
  return new Queue<Data, Result>(name, { ...options, prefix, connection: queueConnectionOptions(url, sentinels) });
}

export function createWorker<Data = unknown, Result = unknown>(
  name: string,
  processor: Processor<Data, Result>,
  { url, prefix, sentinels }: QueueConnectionOptions,
  options: Omit<WorkerOptions, 'connection' | 'prefix'> = {},
): Worker<Data, Result> {
  return new Worker<Data, Result>(name, processor, {
    ...options,
    prefix,
    connection: queueConnectionOptions(url, sentinels),
  });
}

export function createQueueEvents(
  name: string,
  { url, prefix, sentinels }: QueueConnectionOptions,
  options: Omit<QueueEventsOptions, 'connection' | 'prefix'> = {},
): QueueEvents {
  return new QueueEvents(name, { ...options, prefix, connection: queueConnectionOptions(url, sentinels) });
}
