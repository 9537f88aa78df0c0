/**
 * Images built elsewhere (a team's own pipeline, or a test deploying on AWS without Packer),
 * registered for a service and version: kept in Redis under this service's prefix as
 * `registered-images` (a hash, image id → registration). Registering the same image for the
 * same service and version again is a no-op; for another is a conflict.
 */
import type { Image } from '@slipway/cloud';
import type { Redis } from '@slipway/core';

export interface ImageRegistration {
  id: string;
  service: string;
  version: string;
  registeredBy: string;
  registeredAt: string;
}

export interface ImageRegistry {
  /** Answers the registration now in force: this one, or the one made before (same or not). */
  register(registration: ImageRegistration): Promise<{ registration: ImageRegistration; created: boolean }>;
  get(id: string): Promise<ImageRegistration | undefined>;
  list(): Promise<ImageRegistration[]>;
}

export function createRedisImageRegistry({ redis, prefix }: { redis: Redis; prefix: string }): ImageRegistry {
  const key = `${prefix}registered-images`;
  return {
    async register(registration) {
      // HSETNX: of two racing registrations one wins, whole; the other reads what won.
      if (await redis.hsetnx(key, registration.id, JSON.stringify(registration)))
        return { registration, created: true };
      return {
        registration: JSON.parse((await redis.hget(key, registration.id))!) as ImageRegistration,
        created: false,
      };
    },
    async get(id) {
      const raw = await redis.hget(key, id);
      return raw ? (JSON.parse(raw) as ImageRegistration) : undefined;
    },
    async list() {
      return Object.values(await redis.hgetall(key)).map((raw) => JSON.parse(raw) as ImageRegistration);
    },
  };
}

/** A cloud image as a service image of its registration: what bakes tag their images with. */
export function asRegistered(image: Image, registration: ImageRegistration | undefined): Image {
  if (!registration) return image;
  return {
    ...image,
    kind: 'service',
    service: registration.service,
    version: registration.version,
    tags: { ...image.tags, service: registration.service, version: registration.version, registered: 'true' },
  };
}
