/**
 * Images built elsewhere (a team's own pipeline, or a test deploying on AWS without Packer),
 * registered for a service and version: kept in Redis under this service's prefix as
 * `registered-images` (a hash, image id → registration). Registering the same image for the
 * same service and version again is a no-op; for another is a conflict.
 */
import type { Image } from '@slipway/cloud';
import type { Redis } from '@slipway/core/redis';

export interface ImageRegistration {
  id: string;
  service: string;
  version: string;
  /** The source commit and repository it was built from, when the registration named them. */
  commit?: string;
  repository?: string;
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

/** The tags a baked image carries its source in (an AMI's tags; a local image's manifest). */
export const COMMIT_TAG = 'slipway:commit';
export const REPOSITORY_TAG = 'slipway:repository';

/** What an image tag (and the local template's JSON) can carry as is: no spaces, quotes or braces. */
const TAGGABLE_REPOSITORY = /^[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,256}$/;

/** The source a bake gives its image: the version's reported build, its repository when taggable. */
export function sourceOf(build: { commit: string; repo?: string } | undefined): {
  sourceCommit?: string;
  sourceRepository?: string;
} {
  if (!build) return {};
  return {
    sourceCommit: build.commit,
    ...(build.repo && TAGGABLE_REPOSITORY.test(build.repo) ? { sourceRepository: build.repo } : {}),
  };
}

export type SourcedImage = Image & { sourceCommit?: string; sourceRepository?: string };

/** An image with the source commit and repository its tags carry (empty tags: none). */
export function withSource(image: Image): SourcedImage {
  const commit = image.tags[COMMIT_TAG];
  const repository = image.tags[REPOSITORY_TAG];
  return {
    ...image,
    ...(commit ? { sourceCommit: commit } : {}),
    ...(commit && repository ? { sourceRepository: repository } : {}),
  };
}

/** A cloud image as a service image of its registration: what bakes tag their images with. */
export function asRegistered(image: Image, registration: ImageRegistration | undefined): SourcedImage {
  if (!registration) return withSource(image);
  const source = {
    ...(registration.commit ? { [COMMIT_TAG]: registration.commit } : {}),
    ...(registration.repository ? { [REPOSITORY_TAG]: registration.repository } : {}),
  };
  return withSource({
    ...image,
    kind: 'service',
    service: registration.service,
    version: registration.version,
    tags: {
      ...image.tags,
      ...source,
      service: registration.service,
      version: registration.version,
      registered: 'true',
    },
  });
}
