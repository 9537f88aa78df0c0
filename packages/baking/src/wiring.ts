/** The real dependencies of the baking service, from settings: queue, worker, peers, stores. */
import { S3Client } from '@aws-sdk/client-s3';
import { awsClientConfig, type CloudProvider } from '@slipway/cloud';
import { createServiceClient, NotFoundError, unwrap, type Logger } from '@slipway/core';
import { createQueue, createWorker, type SentinelTarget } from '@slipway/core/redis';
import type { MetadataPaths } from '@slipway/metadata-api';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalArtifactStore, createS3ArtifactStore, type ArtifactStore } from './artifacts.js';
import { runBake, type BakerOptions, type BuilderSettings, type Templates } from './baker.js';
import type { BakeStore } from './bakes.js';
import { newBakeId, type BakeQueue, type ServiceRegistry } from './operations.js';
import { createLocalImageSizes, type ImageQuota, type ImageSizes } from './quota.js';

export const PACKER_DIR = fileURLToPath(new URL('../../../templates/packer/', import.meta.url));

export function templatesFor(cloud: CloudProvider, dir = PACKER_DIR): Templates {
  const kind = cloud.kind === 'aws' ? 'aws' : 'local';
  return { base: join(dir, `base-${kind}.json`), service: join(dir, `service-${kind}.json`) };
}

export function digestOf(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function metadataRegistry(baseUrl: string, token: string): ServiceRegistry {
  const client = createServiceClient<MetadataPaths>({ baseUrl, token });
  return {
    async exists(service) {
      try {
        unwrap(await client.GET('/services/{name}', { params: { path: { name: service } } }));
        return true;
      } catch (error) {
        if (error instanceof NotFoundError) return false;
        throw error;
      }
    },
  };
}

/** Image quotas from SLIPWAY_IMAGE_QUOTA_SERVICE_MB and SLIPWAY_IMAGE_QUOTA_MB (0: none); local images only. */
export function imageQuotaFromEnv(
  env: NodeJS.ProcessEnv,
  cloud: CloudProvider,
  home: string,
): { limits: ImageQuota; sizes: ImageSizes } | undefined {
  if (cloud.kind !== 'local') return undefined;
  const mb = (name: string, fallback: number) => Math.max(0, Number(env[name] ?? fallback) || 0) * 1024 * 1024;
  return {
    limits: {
      serviceBytes: mb('SLIPWAY_IMAGE_QUOTA_SERVICE_MB', 4096),
      totalBytes: mb('SLIPWAY_IMAGE_QUOTA_MB', 20480),
    },
    sizes: createLocalImageSizes(join(home, 'images')),
  };
}

export function artifactStoreFromEnv(env: NodeJS.ProcessEnv, home: string): ArtifactStore {
  const maxBytes = Number(env.SLIPWAY_ARTIFACT_MAX_MB ?? 200) * 1024 * 1024;
  if (env.SLIPWAY_ARTIFACT_BUCKET) {
    return createS3ArtifactStore({
      bucket: env.SLIPWAY_ARTIFACT_BUCKET,
      // Path-style (bucket in the path, not the host name) for S3-compatible stores and emulators.
      client: new S3Client({ ...awsClientConfig(), forcePathStyle: env.SLIPWAY_S3_FORCE_PATH_STYLE === 'true' }),
      cacheDir: join(home, 'artifacts-cache'),
      maxBytes,
    });
  }
  return createLocalArtifactStore({ dir: join(home, 'artifacts'), maxBytes });
}

/** Where an AWS bake's builder runs and how Packer reaches it: SLIPWAY_BAKE_* (see BuilderSettings). */
export function builderSettingsFromEnv(env: NodeJS.ProcessEnv): BuilderSettings {
  const pick = (name: string) => (env[name] ? env[name] : undefined);
  const settings = {
    subnetId: pick('SLIPWAY_BAKE_SUBNET_ID'),
    sshSourceCidr: pick('SLIPWAY_BAKE_SSH_CIDR'),
    sshInterface: pick('SLIPWAY_BAKE_SSH_INTERFACE'),
    instanceProfile: pick('SLIPWAY_BAKE_INSTANCE_PROFILE'),
    kmsKeyId: pick('SLIPWAY_BAKE_KMS_KEY_ID'),
    endpoint: pick('AWS_ENDPOINT_URL_EC2') ?? pick('AWS_ENDPOINT_URL'),
  };
  if (settings.sshSourceCidr === '0.0.0.0/0')
    throw new Error('SLIPWAY_BAKE_SSH_CIDR must not open SSH to the internet (0.0.0.0/0): name your own range');
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}

export interface Bakery {
  queue: BakeQueue;
  close(): Promise<void>;
}

/**
 * The bake queue and its worker (BullMQ): each bake one job, `concurrency` at a time, and the
 * base bake on a cron schedule (a repeatable job scheduler, so only one fires however many
 * copies of the service run).
 */
export async function startBakery(options: {
  redisUrl: string;
  /** Redis Sentinel, when the primary is found through it. */
  sentinels?: SentinelTarget;
  store: BakeStore;
  baker: BakerOptions;
  concurrency: number;
  baseCron: string;
  /** The base bake key, so that the scheduled bake's image answers later identical requests. */
  baseBakeKey: string;
  logger: Logger;
}): Promise<Bakery> {
  const connection = {
    url: options.redisUrl,
    prefix: 'slipway:baking:queue',
    ...(options.sentinels ? { sentinels: options.sentinels } : {}),
  };
  const queue = createQueue<{ bakeId?: string }>('bakes', connection);
  // Stopping interrupts running bakes (Packer cleans up), rather than leaving builders behind.
  const stopping = new AbortController();
  const baker: BakerOptions = { ...options.baker, stopping: stopping.signal };
  const worker = createWorker<{ bakeId?: string }>(
    'bakes',
    async (job) => {
      let bakeId = job.data.bakeId;
      if (job.name === 'scheduled-base') {
        bakeId = newBakeId();
        await options.store.create({
          id: bakeId,
          kind: 'base',
          // A rebake: the week's new base replaces the image remembered for the template.
          bakeKey: options.baseBakeKey,
          state: 'queued',
          requestedBy: 'schedule',
          createdAt: new Date().toISOString(),
        });
      }
      const bake = await runBake(bakeId!, baker);
      options.logger.info({ bake: bake.id, state: bake.state, image: bake.image }, 'bake finished');
      return bake.state;
    },
    connection,
    { concurrency: options.concurrency },
  );
  await queue.upsertJobScheduler('weekly-base', { pattern: options.baseCron }, { name: 'scheduled-base', data: {} });
  return {
    queue: {
      async enqueue(bakeId) {
        await queue.add('bake', { bakeId }, { jobId: bakeId, removeOnComplete: 1000, removeOnFail: 1000 });
      },
      async remove(bakeId) {
        return (await queue.remove(bakeId)) === 1;
      },
    },
    async close() {
      stopping.abort();
      await worker.close();
      await queue.close();
    },
  };
}
