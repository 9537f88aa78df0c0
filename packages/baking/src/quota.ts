/**
 * Quotas on the bytes images take, so that no deployer can fill the disk by baking: one for each
 * service's images and one for all images together. A bake that would start over either is
 * refused with the numbers (409 for a service's quota, 507 for the store's), and says what frees
 * space. Measured on the local image store; images on AWS have no local bytes and no quota here.
 */
import type { CloudProvider } from '@slipway/cloud';
import { ConflictError, InsufficientStorageError } from '@slipway/core';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ImageQuota {
  /** Bytes all of one service's images may take; 0 for no limit. */
  serviceBytes: number;
  /** Bytes all images (base ones included) may take; 0 for no limit. */
  totalBytes: number;
}

export interface ImageSizes {
  bytesOf(imageId: string): Promise<number>;
}

/** Sizes of the image directories in the local image store; an image never changes, so each is measured once. */
export function createLocalImageSizes(imagesDir: string): ImageSizes {
  const known = new Map<string, Promise<number>>();
  return {
    bytesOf(imageId) {
      let size = known.get(imageId);
      if (!size) {
        size = directoryBytes(join(imagesDir, imageId));
        known.set(imageId, size);
        size.catch(() => known.delete(imageId));
      }
      return size;
    },
  };
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** Refuses a new image of `service` (or a base image, without one) while a quota is used up. */
export async function checkImageQuota({
  cloud,
  sizes,
  quota,
  service,
}: {
  cloud: CloudProvider;
  sizes: ImageSizes;
  quota: ImageQuota;
  service?: string;
}): Promise<void> {
  const images = await cloud.listImages();
  const bytes = async (ids: string[]) =>
    (await Promise.all(ids.map((id) => sizes.bytesOf(id).catch(() => 0)))).reduce((a, b) => a + b, 0);
  if (service && quota.serviceBytes > 0) {
    const used = await bytes(images.filter((i) => i.kind === 'service' && i.service === service).map((i) => i.id));
    if (used >= quota.serviceBytes) {
      throw new ConflictError(
        `the images of ${service} take ${describeBytes(used)} of its quota of ${describeBytes(quota.serviceBytes)}: ` +
          `deregister old ones (DELETE /images/{id}) or lower SLIPWAY_IMAGE_RETENTION before baking again`,
        {
          code: 'service-image-quota',
          args: { service, used: describeBytes(used), quota: describeBytes(quota.serviceBytes) },
        },
      );
    }
  }
  if (quota.totalBytes > 0) {
    const used = await bytes(images.map((i) => i.id));
    if (used >= quota.totalBytes) {
      throw new InsufficientStorageError(
        `images take ${describeBytes(used)} of the image store's quota of ${describeBytes(quota.totalBytes)}: ` +
          `deregister old images (DELETE /images/{id}) before baking again`,
        { code: 'image-quota', args: { used: describeBytes(used), quota: describeBytes(quota.totalBytes) } },
      );
    }
  }
}

function describeBytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB (${bytes} bytes)`;
}
