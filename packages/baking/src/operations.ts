import type { CloudProvider } from '@slipway/cloud';
import {
  ConflictError,
  NotFoundError,
  UnprocessableError,
  principalOf,
  sendEventStream,
  typedOperations,
  typedQuery,
  type OperationHandlers,
  type TypedRequest,
  type TypedResponse,
} from '@slipway/core';
import { type StreamConnection } from '@slipway/core/redis';
import { createHash, randomBytes } from 'node:crypto';
import type { ArtifactStore } from './artifacts.js';
import type { Bake, BakeStore } from './bakes.js';
import { checkImageQuota, type ImageQuota, type ImageSizes } from './quota.js';
import type { BuildStore } from './builds.js';
import { deregisterCopies, withRegions, type ImageRegionOptions } from './image-regions.js';
import { asRegistered, sourceOf, withSource, type ImageRegistry } from './images.js';
import type { BuildOperationId } from './build-operations.js';
import { isFinishedBake, type BakingOperations as operations } from '@slipway/baking-api';

/** The operations this file answers: the document's, but for the builds' (build-operations.ts) and image regions' (image-regions.ts). */
type BakingOperations = Omit<operations, BuildOperationId | 'addImageRegion'>;
/** What a bake request may answer: an image already made, or a bake started or joined. */
type BakeResponse = TypedResponse<operations['bakeBase']>;

export interface BakeQueue {
  enqueue(bakeId: string): Promise<void>;
  /** Takes a bake out of the queue before it starts; false when it has started already. */
  remove(bakeId: string): Promise<boolean>;
}

export interface ServiceRegistry {
  exists(service: string): Promise<boolean>;
}

export interface OperationsOptions extends Pick<ImageRegionOptions, 'regions' | 'imageRegions'> {
  store: BakeStore;
  /** Images built elsewhere, registered with POST /images. */
  images: ImageRegistry;
  artifacts: ArtifactStore;
  /** The builds behind artifacts: a bake gives its image the source commit of its version. */
  builds: Pick<BuildStore, 'byVersion'>;
  cloud: CloudProvider;
  services: ServiceRegistry;
  queue: BakeQueue;
  /** sha256 of the service template: part of every service bake key. */
  serviceTemplateDigest: string;
  /** sha256 of the base template: the base bake key. */
  baseTemplateDigest: string;
  /** Quotas on image bytes, where images have local bytes (the local cloud). */
  quota?: { limits: ImageQuota; sizes: ImageSizes };
  /** A connection of its own for each log follower (it blocks). */
  /** A follower of a bake's log for `subject` (core's stream hub: one shared connection, capped). */
  followConnection(subject: string): StreamConnection;
  bakeTimeoutSeconds: number;
}

export function newBakeId(): string {
  return `bake-${randomBytes(6).toString('hex')}`;
}

export function bakeKey(parts: {
  baseImage: string;
  service: string;
  version: string;
  artifactSha256: string;
  templateDigest: string;
}): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** A base image's only input is its template: the same template answers the same image. */
export function baseBakeKey(templateDigest: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ kind: 'base', templateDigest }))
    .digest('hex');
}

/** A handler for each operation of src/schema/openapi.yaml but the builds', typed from it. */
export function createOperations(options: OperationsOptions): OperationHandlers {
  const { store, artifacts, cloud, services, queue, images } = options;

  async function mustService(service: string): Promise<void> {
    if (!(await services.exists(service)))
      throw new NotFoundError(`no service named ${service} in the metadata registry`);
  }

  async function newestBase() {
    return (await cloud.listImages({ kind: 'base' }))[0];
  }

  async function checkQuota(service?: string) {
    if (options.quota) {
      await checkImageQuota({
        cloud,
        sizes: options.quota.sizes,
        quota: options.quota.limits,
        ...(service ? { service } : {}),
      });
    }
  }

  /** The image these inputs made, if it still exists: answered at once instead of a bake. */
  async function cached(key: string, res: BakeResponse): Promise<boolean> {
    const image = await store.imageFor(key);
    if (!image || !(await cloud.getImage(image))) return false;
    res.status(200).json({ image, cached: true });
    return true;
  }

  /** Joins the bake of the same inputs when one runs; else claims the key for a new bake. */
  async function claimed(key: string, id: string, res: BakeResponse): Promise<boolean> {
    const running = await store.claim(key, id, options.bakeTimeoutSeconds + 60);
    if (!running) return false;
    res.status(202).setHeader('Location', `/bakes/${running}`);
    res.json({ id: running, joined: true });
    return true;
  }

  async function startBake(bake: Bake, res: BakeResponse) {
    await store.create(bake);
    await store.log(bake.id, `queued by ${bake.requestedBy}`);
    await queue.enqueue(bake.id);
    res.status(202).setHeader('Location', `/bakes/${bake.id}`);
    res.json({ id: bake.id });
  }

  return typedOperations<BakingOperations>({
    async listArtifacts(req, res) {
      res.json({ items: await artifacts.list(req.params.service) });
    },

    async putArtifact(req, res) {
      const { service, version } = req.params;
      await mustService(service);
      const { artifact, created } = await artifacts.put(service, version, req, principalOf(req).subject);
      res.status(created ? 201 : 200).json(artifact);
    },

    async deleteArtifact(req, res) {
      const { service, version } = req.params;
      if (!(await artifacts.delete(service, version))) throw new NotFoundError(`no artifact ${service} ${version}`);
      res.status(204).end();
    },

    async getArtifact(req, res) {
      const { service, version } = req.params;
      const artifact = await artifacts.get(service, version);
      if (!artifact) throw new NotFoundError(`no artifact ${service} ${version}`);
      res.json(artifact);
    },

    async bakeBase(req, res) {
      const { rebake } = req.body ?? {};
      const key = baseBakeKey(options.baseTemplateDigest);
      if (!rebake && (await cached(key, res))) return;
      await checkQuota();
      const id = newBakeId();
      if (await claimed(key, id, res)) return;
      const bake: Bake = {
        id,
        kind: 'base',
        bakeKey: key,
        state: 'queued',
        requestedBy: principalOf(req).subject,
        createdAt: new Date().toISOString(),
      };
      await startBake(bake, res);
    },

    async bakeService(req, res) {
      const { service, version, rebake } = req.body;
      await mustService(service);
      const artifact = await artifacts.get(service, version);
      if (!artifact)
        throw new NotFoundError(
          `no artifact ${service} ${version}: upload it first (PUT /artifacts/${service}/${version})`,
          { code: 'no-artifact', args: { service, version } },
        );
      const base = await newestBase();
      if (!base)
        throw new UnprocessableError('there is no base image yet: bake one first (POST /bakes/base)', {
          code: 'no-base-image',
        });
      const key = bakeKey({
        baseImage: base.id,
        service,
        version,
        artifactSha256: artifact.sha256,
        templateDigest: options.serviceTemplateDigest,
      });
      if (!rebake && (await cached(key, res))) return;
      await checkQuota(service);
      const id = newBakeId();
      if (await claimed(key, id, res)) return;
      await startBake(
        {
          id,
          kind: 'service',
          service,
          version,
          bakeKey: key,
          baseImage: base.id,
          artifactSha256: artifact.sha256,
          ...sourceOf(await options.builds.byVersion(service, version)),
          state: 'queued',
          requestedBy: principalOf(req).subject,
          createdAt: new Date().toISOString(),
        },
        res,
      );
    },

    async listBakes(req, res) {
      const query = typedQuery(req);
      const limit = Number(query.limit ?? 20);
      // Filtering after reading: a few hundred recent bakes at most, read in one MGET.
      const bakes = await store.recent(query.service ? 200 : limit);
      res.json({ items: bakes.filter((b) => !query.service || b.service === query.service).slice(0, limit) });
    },

    async getBake(req, res) {
      res.json(await mustBake(store, req.params.id));
    },

    async cancelBake(req, res) {
      const bake = await mustBake(store, req.params.id);
      if (isFinishedBake(bake.state)) {
        res.status(202).json(bake);
        return;
      }
      await store.requestCancel(bake.id);
      if (bake.state === 'queued' && (await queue.remove(bake.id))) {
        if (bake.bakeKey) await store.unclaim(bake.bakeKey, bake.id);
        const cancelled = await store.update(bake.id, {
          state: 'cancelled',
          reason: 'cancelled',
          finishedAt: new Date().toISOString(),
        });
        await store.log(bake.id, `cancelled by ${principalOf(req).subject} before it started`);
        res.status(202).json(cancelled);
        return;
      }
      await store.log(bake.id, `cancel requested by ${principalOf(req).subject}`);
      // The bake as read above should it be gone now: json(undefined) would answer no Bake at all.
      res.status(202).json((await store.get(bake.id)) ?? bake);
    },

    async getBakeLog(req, res) {
      const id = req.params.id;
      await mustBake(store, id);
      if (typedQuery(req).format === 'text') {
        res.type('text/plain; charset=utf-8');
        const lines = (await store.readLog(id, '0', 10_000)).map((e) => e.line);
        res.send(lines.length ? `${lines.join('\n')}\n` : '');
        return;
      }
      await followLog(req, res, id);
    },

    async listImages(req, res) {
      const { service, kind } = typedQuery(req);
      const baked = await cloud.listImages({ ...(service ? { service } : {}), ...(kind ? { kind } : {}) });
      const seen = new Set(baked.map((image) => image.id));
      const registered = kind === 'base' ? [] : (await images.list()).filter((r) => !service || r.service === service);
      const found = await Promise.all(
        registered
          .filter((r) => !seen.has(r.id))
          .map(async (r) => {
            const image = await cloud.getImage(r.id);
            return image && asRegistered(image, r);
          }),
      );
      const items = [...baked.map(withSource), ...found.filter((image) => image !== undefined)];
      res.json({ items: items.sort((a, b) => b.createdAt.localeCompare(a.createdAt)) });
    },

    async registerImage(req, res) {
      const { service, version, imageId, commit, repository } = req.body;
      await mustService(service);
      const image = await cloud.getImage(imageId);
      if (!image) throw new NotFoundError(`no image ${imageId} in the ${cloud.kind} cloud`);
      if (image.kind === 'base' && image.tags.kind === 'base')
        throw new UnprocessableError(`image ${imageId} is a base image, not an image of ${service}`);
      if (image.service && image.service !== service)
        throw new ConflictError(`image ${imageId} is an image of ${image.service}, not of ${service}`);
      const { registration, created } = await images.register({
        id: imageId,
        service,
        version,
        ...(commit ? { commit } : {}),
        ...(commit && repository ? { repository } : {}),
        registeredBy: principalOf(req).subject,
        registeredAt: new Date().toISOString(),
      });
      if (registration.service !== service || registration.version !== version)
        throw new ConflictError(
          `image ${imageId} is registered already as ${registration.service} ${registration.version}`,
        );
      if (commit && registration.commit !== commit)
        throw new ConflictError(
          `image ${imageId} is registered already${registration.commit ? ` as built from ${registration.commit}` : ' without a source commit'}`,
        );
      res.status(created ? 201 : 200).setHeader('Location', `/images/${imageId}`);
      res.json({ id: imageId });
    },

    async getLatestBaseImage(_req, res) {
      const base = await newestBase();
      if (!base) throw new NotFoundError('there is no base image yet');
      res.json(base);
    },

    async getImage(req, res) {
      const id = req.params.id;
      const image = await cloud.getImage(id);
      if (!image) throw new NotFoundError(`no image ${id}`);
      res.json(await withRegions(options, asRegistered(image, await images.get(id))));
    },

    async deleteImage(req, res) {
      const id = req.params.id;
      if (!(await cloud.getImage(id))) throw new NotFoundError(`no image ${id}`);
      if ((await cloud.imagesInUse()).includes(id)) throw new ConflictError(`image ${id} is used by a server group`);
      // Its copies in other regions first: a crash in between leaves the image, to delete again.
      await deregisterCopies(options, id);
      await cloud.deregisterImage(id);
      res.status(204).end();
    },
  });

  /** Server-sent events: every line so far (after Last-Event-ID), then each new one, then `end`. */
  async function followLog(
    req: TypedRequest<operations['getBakeLog']>,
    res: TypedResponse<operations['getBakeLog']>,
    id: string,
  ) {
    const connection = options.followConnection(principalOf(req).subject);
    await sendEventStream(req, res, {
      read: async (after) => (await store.readLog(id, after, 10_000)).map((e) => ({ id: e.id, data: e.line })),
      follow: async (after, ms) =>
        (await store.waitLog(connection, id, after, ms)).map((e) => ({ id: e.id, data: e.line })),
      async finished() {
        const bake = await store.get(id);
        return bake && isFinishedBake(bake.state) ? { state: bake.state, image: bake.image ?? null } : undefined;
      },
      close: () => connection.disconnect(),
    });
  }
}

async function mustBake(store: BakeStore, id: string): Promise<Bake> {
  const bake = await store.get(id);
  if (!bake) throw new NotFoundError(`no bake ${id}`);
  return bake;
}
