/** The real dependencies of the infra service, from settings: the apply queue and worker, the drift schedule. */
import { type Logger } from '@slipway/core';
import { createQueue, createWorker, type SentinelTarget } from '@slipway/core/redis';
import type { ApplyQueue, Infrastructure } from './infrastructure.js';

export interface ApplyQueueSettings {
  redisUrl: string;
  /** Redis Sentinel, when the primary is found through it. */
  sentinels?: SentinelTarget;
  /** How long a job's BullMQ lock lasts without renewal: after a worker dies, its apply resumes this much later. */
  jobLockMs: number;
  driftEverySeconds: number;
  logger: Logger;
  /** BullMQ's key prefix (tests give each their own). */
  prefix?: string;
}

/**
 * Applies run as BullMQ jobs, one at a time per worker (the stack lock keeps one per stack
 * across workers). A job whose worker died is found stalled and run again by the next worker;
 * the apply itself skips what it had already done.
 */
export function startApplyQueue(settings: ApplyQueueSettings) {
  const connection = {
    url: settings.redisUrl,
    prefix: settings.prefix ?? 'slipway:infra:queue',
    ...(settings.sentinels ? { sentinels: settings.sentinels } : {}),
  };
  const queue = createQueue<{ applyId?: string }>('applies', connection);
  const applyQueue: ApplyQueue = {
    async enqueue(applyId) {
      await queue.add('apply', { applyId }, { jobId: applyId, removeOnComplete: 1000, removeOnFail: 1000 });
    },
  };
  let worker: ReturnType<typeof createWorker<{ applyId?: string }>> | undefined;
  return {
    queue: applyQueue,
    /** Starts working once the infrastructure (which needs the queue) exists. */
    async start(infrastructure: Infrastructure) {
      worker = createWorker<{ applyId?: string }>(
        'applies',
        async (job) => {
          if (job.name === 'drift') return (await infrastructure.checkAllDrift()).filter((r) => r.drifted).length;
          const apply = await infrastructure.runApply(job.data.applyId!);
          return apply.state;
        },
        connection,
        {
          concurrency: 4,
          lockDuration: settings.jobLockMs,
          stalledInterval: Math.max(1000, Math.floor(settings.jobLockMs / 2)),
          maxStalledCount: 5,
        },
      );
      worker.on('failed', (job, error) => settings.logger.error({ job: job?.id, err: error }, 'infra job failed'));
      await queue.upsertJobScheduler(
        'drift',
        { every: settings.driftEverySeconds * 1000 },
        { name: 'drift', data: {} },
      );
    },
    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}
