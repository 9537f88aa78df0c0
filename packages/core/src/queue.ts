/**
 * BullMQ queues and workers, their connection always given (never a module singleton).
 * BullMQ keeps its keys under its own `prefix`, not ioredis' keyPrefix, which it does not support.
 */
import { Queue, Worker, type Processor, type QueueOptions, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';

export interface QueueConnectionOptions {
  url: string;
  /** BullMQ key prefix, e.g. `slipway:orchestrator`. */
  prefix: string;
}

/** Workers block on Redis, so BullMQ needs maxRetriesPerRequest: null on their connections. */
export function createQueueConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

export function createQueue<Data = unknown, Result = unknown>(
  name: string,
  { url, prefix }: QueueConnectionOptions,
  options: Omit<QueueOptions, 'connection' | 'prefix'> = {},
): Queue<Data, Result> {
  return new Queue<Data, Result>(name, { ...options, prefix, connection: createQueueConnection(url) });
}

export function createWorker<Data = unknown, Result = unknown>(
  name: string,
  processor: Processor<Data, Result>,
  { url, prefix }: QueueConnectionOptions,
  options: Omit<WorkerOptions, 'connection' | 'prefix'> = {},
): Worker<Data, Result> {
  return new Worker<Data, Result>(name, processor, { ...options, prefix, connection: createQueueConnection(url) });
}
