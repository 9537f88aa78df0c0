/**
 * Runs one bake: Packer with the layer's template, its progress logged line by line, a person's
 * cancel honoured within half a second, a bake over its timeout killed — and in every case but
 * success, the half-made image removed.
 */
import type { CloudProvider } from '@slipway/cloud';
import { ConflictError, type Logger } from '@slipway/core';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from './artifacts.js';
import type { Bake, BakeStore } from './bakes.js';
import { deregisterCopies, type ImageRegionOptions } from './image-regions.js';
import { checkArtifact } from './artifact-check.js';
import { packerBuild } from './packer.js';

export interface Templates {
  base: string;
  service: string;
}

export interface BakerOptions extends Pick<ImageRegionOptions, 'regions' | 'imageRegions'> {
  store: BakeStore;
  artifacts: ArtifactStore;
  cloud: CloudProvider;
  templates: Templates;
  /** $SLIPWAY_HOME: the local image store is images/ in it. */
  home: string;
  timeoutMs: number;
  logger: Logger;
  /** Keep this many newest images per service; older ones not in use are deregistered. */
  retention: number;
  /** Keep this many newest base images (default 3); older ones not in use are deregistered. */
  baseRetention?: number;
}

const LOG_TAIL = 20;

export function newImageId(): string {
  return `img-${randomBytes(6).toString('hex')}`;
}

export async function runBake(bakeId: string, options: BakerOptions): Promise<Bake> {
  const { store, templates, home, logger } = options;
  let bake = (await store.get(bakeId))!;
  if (bake.state !== 'queued') return bake; // cancelled while queued, or a redelivered job
  bake = await store.update(bakeId, { state: 'running', startedAt: new Date().toISOString() });
  const imagesDir = join(home, 'images');
  const imageId = newImageId();
  const workDir = join(imagesDir, `.work-${bakeId}`);
  const manifestDir = join(home, 'baking', 'manifests');
  await mkdir(manifestDir, { recursive: true });
  const vars: Record<string, string> = {
    image_id: imageId,
    images_dir: imagesDir,
    work_dir: workDir,
    // The manifest post-processor appends to its file: one file a bake.
    manifest_path: join(manifestDir, `${bakeId}.json`),
  };
  if (bake.kind === 'service') {
    const artifact = (await options.artifacts.get(bake.service!, bake.version!))!;
    Object.assign(vars, {
      base_image: bake.baseImage!,
      artifact: await options.artifacts.localPath(artifact),
      service: bake.service!,
      version: bake.version!,
      bake_key: bake.bakeKey!,
      // The image carries its source on (tags): empty when no build was reported for the version.
      commit: bake.sourceCommit ?? '',
      repository: bake.sourceRepository ?? '',
    });
  }
  const controller = new AbortController();
  const watcher = setInterval(() => {
    void store.cancelRequested(bakeId).then((yes) => yes && controller.abort());
  }, 500);
  const tail: string[] = [];
  try {
    // Checked on arrival, and again before Packer unpacks it as this process's user: an artifact
    // stored before the check, or put in the store some other way, is refused here, by name.
    const refused = vars.artifact
      ? await checkArtifact(vars.artifact).then(
          () => undefined,
          (e: Error) => e.message,
        )
      : undefined;
    if (refused) {
      const ended = await store.update(bakeId, {
        state: 'failed',
        reason: refused,
        finishedAt: new Date().toISOString(),
      });
      await store.log(bakeId, `failed: ${refused}`);
      return ended;
    }
    await store.log(bakeId, `packer build ${bake.kind === 'base' ? templates.base : templates.service}`);
    const result = await packerBuild({
      template: bake.kind === 'base' ? templates.base : templates.service,
      vars,
      signal: controller.signal,
      timeoutMs: options.timeoutMs,
      onLine(_line, text) {
        if (text === undefined) return;
        tail.push(text);
        if (tail.length > LOG_TAIL) tail.shift();
        void store.log(bakeId, text);
      },
    });
    if (!result.ok) {
      await rm(workDir, { recursive: true, force: true });
      await rm(join(imagesDir, imageId), { recursive: true, force: true });
      const cancelled = controller.signal.aborted;
      // The state first, then the line: a follower woken by the line finds the bake finished.
      const ended = await store.update(bakeId, {
        state: cancelled ? 'cancelled' : 'failed',
        reason: cancelled ? 'cancelled' : `${result.reason}; the end of the log:\n${tail.join('\n')}`,
        finishedAt: new Date().toISOString(),
      });
      await store.log(
        bakeId,
        cancelled ? 'cancelled: packer stopped, half-made image removed' : `failed: ${result.reason}`,
      );
      return ended;
    }
    // Locally the image id is ours; on AWS it is the AMI Packer reports.
    const image = options.cloud.kind === 'local' ? imageId : (result.artifactIds.at(-1) ?? imageId);
    if (bake.bakeKey) await store.rememberImage(bake.bakeKey, image);
    const done = await store.update(bakeId, { state: 'succeeded', image, finishedAt: new Date().toISOString() });
    await store.log(bakeId, `image ${image}`);
    const pruned = bake.kind === 'service' ? prune(bake.service!, options) : pruneBase(options);
    await pruned.catch((error: unknown) => logger.error({ err: error }, 'retention failed'));
    return done;
  } finally {
    clearInterval(watcher);
    if (bake.bakeKey) await store.release(bake.bakeKey, bakeId);
  }
}

/** Keeps the newest `retention` images of a service; never one a server group uses. */
export function prune(service: string, options: BakerOptions): Promise<string[]> {
  return pruneImages({ service, kind: 'service' }, options.retention, options);
}

/** Keeps the newest `baseRetention` base images; never one a server group uses. */
export function pruneBase(options: BakerOptions): Promise<string[]> {
  return pruneImages({ kind: 'base' }, options.baseRetention ?? 3, options);
}

async function pruneImages(
  filter: { service?: string; kind: 'base' | 'service' },
  keep: number,
  options: BakerOptions,
): Promise<string[]> {
  const { cloud, logger } = options;
  const images = await cloud.listImages(filter);
  const candidates = images.slice(keep);
  if (candidates.length === 0) return [];
  const inUse = new Set(await cloud.imagesInUse());
  const removed: string[] = [];
  for (const image of candidates) {
    if (inUse.has(image.id)) continue;
    try {
      await deregisterCopies(options, image.id);
    } catch (error) {
      if (error instanceof ConflictError) continue; // a copy in another region is in use there
      throw error;
    }
    await cloud.deregisterImage(image.id);
    removed.push(image.id);
  }
  if (removed.length) logger.info({ ...filter, removed }, 'old images deregistered');
  return removed;
}
