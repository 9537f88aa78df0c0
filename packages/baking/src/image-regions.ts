/**
 * AMIs are regional: an image baked or registered in one region does not exist in another. An
 * image keeps its id (its AMI in the home region, AWS_REGION) and knows its AMI in each other
 * region it was copied or registered to, in Redis as `image-regions:<id>` (a hash, region → AMI).
 * On the local cloud an image is in every region, and nothing is kept.
 */
import type { CloudProvider, CloudRegions, Image } from '@slipway/cloud';
import {
  ConflictError,
  NotFoundError,
  principalOf,
  typedOperations,
  UnprocessableError,
  type Logger,
  type OperationHandlers,
} from '@slipway/core';
import { type Redis } from '@slipway/core/redis';
import { asRegistered, type ImageRegistry } from './images.js';
import type { BakingOperations as operations } from '@slipway/baking-api';

export interface ImageRegions {
  /** Region → AMI, for the regions other than the home one. */
  get(id: string): Promise<Record<string, string>>;
  /** Answers the AMI now in force for the region: this one, or the one recorded before. */
  add(id: string, region: string, ami: string): Promise<string>;
  forget(id: string): Promise<void>;
}

export function createRedisImageRegions({ redis, prefix }: { redis: Redis; prefix: string }): ImageRegions {
  const key = (id: string) => `${prefix}image-regions:${id}`;
  return {
    get: (id) => redis.hgetall(key(id)),
    async add(id, region, ami) {
      // HSETNX: of two racing copies one is recorded; the other answers it.
      if (await redis.hsetnx(key(id), region, ami)) return ami;
      return (await redis.hget(key(id), region))!;
    },
    async forget(id) {
      await redis.del(key(id));
    },
  };
}

export interface ImageRegionOptions {
  cloud: CloudProvider;
  /** One provider per region (AWS); absent or local: images are everywhere. */
  regions?: CloudRegions;
  imageRegions?: ImageRegions;
  /** Registrations of images built elsewhere: the image is answered as GET /images/{id} has it. */
  images?: ImageRegistry;
  logger?: Logger;
}

/** The image with its AMI in each region (AWS, home region included); as it is on the local cloud. */
export async function withRegions<T extends Image>(
  options: ImageRegionOptions,
  image: T,
): Promise<T & { regions?: Record<string, string> }> {
  const { regions, imageRegions } = options;
  if (regions?.kind !== 'aws' || !imageRegions) return image;
  const home = regions.defaultRegion ? { [regions.defaultRegion]: image.id } : {};
  return { ...image, regions: { ...(await imageRegions.get(image.id)), ...home } };
}

/**
 * Deregisters an image's copies in the other regions, once none is used by a server group there
 * (a ConflictError naming the region otherwise). Safe to run again: a copy already gone is fine.
 */
export async function deregisterCopies(options: ImageRegionOptions, id: string): Promise<void> {
  const { regions, imageRegions } = options;
  if (regions?.kind !== 'aws' || !imageRegions) return;
  const copies = Object.entries(await imageRegions.get(id));
  for (const [region, ami] of copies)
    if ((await regions.forRegion(region).imagesInUse()).includes(ami))
      throw new ConflictError(`image ${id} is used by a server group in ${region} (${ami})`);
  for (const [region, ami] of copies) await regions.forRegion(region).deregisterImage(ami);
  await imageRegions.forget(id);
}

export function createImageRegionOperations(options: ImageRegionOptions): OperationHandlers {
  const { cloud, regions, imageRegions } = options;
  return typedOperations<Pick<operations, 'addImageRegion'>>({
    async addImageRegion(req, res) {
      const id = req.params.id;
      const { region, imageId } = req.body;
      const found = await cloud.getImage(id);
      if (!found) throw new NotFoundError(`no image ${id}`);
      const image = asRegistered(found, await options.images?.get(id));
      // One local cloud: every image is in every region already.
      if (regions?.kind !== 'aws' || !imageRegions) {
        res.status(200).json(image);
        return;
      }
      if (region === regions.defaultRegion) {
        if (imageId && imageId !== id)
          throw new ConflictError(`image ${id} is itself the AMI in ${region}, its home region`);
        res.status(200).json(await withRegions(options, image));
        return;
      }
      const target = regions.forRegion(region);
      const recorded = (await imageRegions.get(id))[region];
      if (recorded) {
        if (imageId && imageId !== recorded)
          throw new ConflictError(`image ${id} is in ${region} already as ${recorded}`);
        res.status(200).json(await withRegions(options, image));
        return;
      }
      let ami = imageId;
      if (ami) {
        if (!(await target.getImage(ami))) throw new NotFoundError(`no image ${ami} in ${region}`);
      } else {
        if (!target.copyImage || !regions.defaultRegion)
          throw new UnprocessableError(`image ${id} cannot be copied to ${region}: name its AMI there (imageId)`);
        ami = await target.copyImage({ region: regions.defaultRegion, imageId: id, name: `slipway-${id}` });
      }
      const inForce = await imageRegions.add(id, region, ami);
      options.logger?.info(
        { image: id, region, ami: inForce, by: principalOf(req).subject, copied: !imageId },
        'image region added',
      );
      res.status(inForce === ami ? 201 : 200).setHeader('Location', `/images/${id}`);
      res.json(await withRegions(options, image));
    },
  });
}
