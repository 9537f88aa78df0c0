/**
 * Runs one bake: Packer with the layer's template, its progress logged line by line, a person's
 * cancel honoured within half a second, a bake over its timeout interrupted — and in every case
 * but success, the half-made image removed. On AWS Packer is interrupted as it expects and given
 * the time to clean up after itself (packer.ts), then what it left is swept by the bake's run
 * tag (its builder, temporary security group and key pair, an image of the bake's name); the
 * builder runs in the VPC's subnet, reachable over SSH from the VPC only, on its private address.
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

/** AWS bakes: how Packer's builder is reached, beyond the network the cloud names (all optional). */
export interface BuilderSettings {
  /** Another subnet than the first of SLIPWAY_AWS_SUBNETS (SLIPWAY_BAKE_SUBNET_ID). */
  subnetId?: string;
  /** Who may reach the builder over SSH, when not the VPC (SLIPWAY_BAKE_SSH_CIDR): never 0.0.0.0/0 by default. */
  sshSourceCidr?: string;
  /** private_ip (default), public_ip, or session_manager (no inbound SSH; SLIPWAY_BAKE_SSH_INTERFACE). */
  sshInterface?: string;
  /** The builder's instance profile (session_manager needs one with SSM; SLIPWAY_BAKE_INSTANCE_PROFILE). */
  instanceProfile?: string;
  /** A KMS key for the encrypted boot volume, else AWS's default for EBS (SLIPWAY_BAKE_KMS_KEY_ID). */
  kmsKeyId?: string;
  /** An emulator's EC2 endpoint (AWS_ENDPOINT_URL): Packer then skips its credential and region checks. */
  endpoint?: string;
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
  builder?: BuilderSettings;
  /** More environment for Packer (tests: moto's credentials). */
  packerEnv?: Record<string, string>;
  /** How long Packer may clean up after an interrupt (default 10 minutes). */
  cleanupMs?: number;
  /** Aborted when the service stops: a running bake is interrupted (Packer cleans up) and ends failed. */
  stopping?: AbortSignal;
}

const LOG_TAIL = 20;

export function newImageId(): string {
  return `img-${randomBytes(6).toString('hex')}`;
}

/**
 * The machine image's name: `slipway-base-<id>`, `<service>-<version>-<id>`, in what AWS allows in
 * an AMI name (letters, digits, ( ) [ ] space . / - ' @ _; 3–128 characters): a version's `+build`
 * becomes `-build`.
 */
export function machineImageName(bake: Pick<Bake, 'kind' | 'service' | 'version'>, imageId: string): string {
  const name = bake.kind === 'base' ? `slipway-base-${imageId}` : `${bake.service}-${bake.version}-${imageId}`;
  return name.replace(/[^A-Za-z0-9()[\] ./'@_-]/g, '-').slice(0, 128);
}

async function awsBuilderVars(options: BakerOptions): Promise<Record<string, string>> {
  const network = await options.cloud.builderNetwork!();
  const settings = options.builder ?? {};
  return {
    vpc_id: network.vpcId,
    subnet_id: settings.subnetId ?? network.subnetId,
    ssh_source_cidr: settings.sshSourceCidr ?? network.sourceCidr,
    ssh_interface: settings.sshInterface ?? 'private_ip',
    iam_instance_profile: settings.instanceProfile ?? '',
    kms_key_id: settings.kmsKeyId ?? '',
    ec2_endpoint: settings.endpoint ?? '',
    skip_validation: settings.endpoint ? 'true' : 'false',
  };
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
  const imageName = machineImageName(bake, imageId);
  const aws = options.cloud.kind === 'aws' && options.cloud.builderNetwork !== undefined;
  // The run tag on the builder and its volumes, its key pair's name and the image's: what a sweep finds.
  if (aws) Object.assign(vars, { bake_id: bakeId, image_name: imageName }, await awsBuilderVars(options));
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
  const stop = () => controller.abort();
  if (options.stopping?.aborted) stop();
  options.stopping?.addEventListener('abort', stop, { once: true });
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
      ...(options.cleanupMs ? { cleanupMs: options.cleanupMs } : {}),
      ...(options.packerEnv ? { env: options.packerEnv } : {}),
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
      if (aws) await sweep(bakeId, imageName, options, result.killed === true);
      const stopped = options.stopping?.aborted === true;
      const cancelled = controller.signal.aborted && !stopped;
      const reason = stopped ? 'the baking service stopped' : result.reason;
      // The state first, then the line: a follower woken by the line finds the bake finished.
      const ended = await store.update(bakeId, {
        state: cancelled ? 'cancelled' : 'failed',
        reason: cancelled ? 'cancelled' : `${reason}; the end of the log:\n${tail.join('\n')}`,
        finishedAt: new Date().toISOString(),
      });
      await store.log(bakeId, cancelled ? 'cancelled: packer stopped, half-made image removed' : `failed: ${reason}`);
      return ended;
    }
    // Locally the image id is ours; on AWS it is the AMI Packer reports.
    const image = options.cloud.kind === 'local' ? imageId : (result.artifactIds.at(-1) ?? imageId);
    // Instances of it (and the builders of bakes on it) require IMDSv2, which Packer 1.6.6 cannot ask for.
    await options.cloud.requireImdsV2?.(image);
    if (bake.bakeKey) await store.rememberImage(bake.bakeKey, image);
    const done = await store.update(bakeId, { state: 'succeeded', image, finishedAt: new Date().toISOString() });
    await store.log(bakeId, `image ${image}`);
    const pruned = bake.kind === 'service' ? prune(bake.service!, options) : pruneBase(options);
    await pruned.catch((error: unknown) => logger.error({ err: error }, 'retention failed'));
    return done;
  } finally {
    clearInterval(watcher);
    options.stopping?.removeEventListener('abort', stop);
    if (bake.bakeKey) await store.unclaim(bake.bakeKey, bakeId);
  }
}

/** What Packer left (it was killed mid-cleanup, or failed): found by the bake's run tag and image name. */
async function sweep(bakeId: string, imageName: string, options: BakerOptions, killed: boolean): Promise<void> {
  const { store, logger } = options;
  try {
    const removed = (await options.cloud.sweepBake?.({ runTag: bakeId, imageName })) ?? [];
    if (removed.length) await store.log(bakeId, `removed what packer left: ${removed.join(', ')}`);
    else await store.log(bakeId, killed ? 'packer was killed; nothing of it was left' : 'packer left nothing behind');
  } catch (error) {
    logger.error({ err: error, bake: bakeId }, 'sweeping the bake failed');
    await store.log(
      bakeId,
      `could not sweep what the bake left (${(error as Error).message}): look for resources tagged slipway:bake=${bakeId}`,
    );
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
