/**
 * What the orchestrator asks of the other services, as interfaces, and their implementations
 * over the services' REST APIs with the typed clients generated from their OpenAPI documents.
 */
import type { BakingPaths } from '@slipway/baking-api';
import type { ConfigPaths } from '@slipway/config-api';
import { createServiceClient, NotFoundError, unwrap, type AnswerOf } from '@slipway/core';
import type { MetadataPaths } from '@slipway/metadata-api';

/** A peer's JSON answer to an operation, as its document's generated types give it. */
type Answer<Paths, Path extends keyof Paths> = AnswerOf<Paths[Path] extends { get: infer Op } ? Op : never>;
type MetadataService = Answer<MetadataPaths, '/services/{name}'>;
type ConfigSnapshot = Answer<ConfigPaths, '/config/{service}/{env}'>;
type BakingImage = Answer<BakingPaths, '/images/{id}'>;

/** A registered service; its metadata is what the orchestrator calls its properties. */
export interface ServiceRecord {
  name: MetadataService['name'];
  properties: MetadataService['metadata'];
}

/** A configuration snapshot resolved to a commit, with the Java properties text of that commit. */
export interface ConfigAtCommit extends Pick<ConfigSnapshot, 'commit' | 'valid' | 'errors'> {
  deploymentParams: ConfigSnapshot['files']['deploymentParams'];
  launchData: ConfigSnapshot['files']['launchData'];
  /** application-properties.json as Java properties text. */
  properties: string;
  /** Set when the config service read it from a clone it could not fetch: why, and how old. */
  stale?: string;
}

/** What the orchestrator reads of an image (its fakes in tests give no more), with the source
 * commit and repository it was baked from when it carries them, and on AWS its AMI per region. */
export type ImageRecord = Pick<BakingImage, 'id' | 'kind' | 'service' | 'version'> &
  Partial<Pick<BakingImage, 'sourceCommit' | 'sourceRepository' | 'regions' | 'createdAt'>>;

export interface Peers {
  service(name: string): Promise<ServiceRecord | undefined>;
  /** The configuration a ref names (the default branch when absent), resolved to a commit. */
  config(service: string, env: string, ref?: string): Promise<ConfigAtCommit>;
  image(id: string): Promise<ImageRecord | undefined>;
  /** The environments the service has configuration for (its clusters); absent where unknown. */
  environments?(service: string): Promise<string[]>;
  /** The source commit a version's artifact was built from, when a build was reported for it. */
  sourceCommit?(service: string, version: string): Promise<string | undefined>;
  /** Whether a version's artifact holds a commit in its history; undefined when that cannot be told. */
  contains?(service: string, version: string, commit: string): Promise<boolean | undefined>;
  /** Every service with its metadata, in pages: what reads all of them asks once, not once per service. */
  services?(): Promise<ServiceRecord[]>;
}

async function orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

export function httpPeers(urls: { metadata: string; config: string; baking: string }, token: string): Peers {
  const metadata = createServiceClient<MetadataPaths>({ baseUrl: urls.metadata, token });
  const config = createServiceClient<ConfigPaths>({ baseUrl: urls.config, token });
  const baking = createServiceClient<BakingPaths>({ baseUrl: urls.baking, token });
  return {
    async service(name) {
      return orUndefined(async () => {
        const body = unwrap(await metadata.GET('/services/{name}', { params: { path: { name } } }));
        return { name: body.name, properties: body.metadata };
      });
    },
    async config(service, env, ref) {
      const path = { service, env };
      // no-cache: what a branch names after the last push, never what the clone held a moment ago.
      const answer = await config.GET('/config/{service}/{env}', {
        params: { path, query: ref ? { ref } : {}, header: { 'Cache-Control': 'no-cache' } },
      });
      const stale = answer.response.headers.get('x-config-stale') ?? undefined;
      const snapshot = unwrap(answer);
      // The properties of that very commit, not of whatever the ref names a moment later.
      const properties = unwrap(
        await config.GET('/config/{service}/{env}/properties', {
          params: { path, query: { ref: snapshot.commit } },
          parseAs: 'text',
        }),
      );
      return {
        commit: snapshot.commit,
        valid: snapshot.valid,
        errors: snapshot.errors,
        deploymentParams: snapshot.files.deploymentParams,
        launchData: snapshot.files.launchData,
        properties,
        ...(stale ? { stale } : {}),
      };
    },
    async image(id) {
      return orUndefined(async () => unwrap(await baking.GET('/images/{id}', { params: { path: { id } } })));
    },
    async services() {
      const all: ServiceRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = unwrap(
          await metadata.GET('/services', { params: { query: { limit: 1000, ...(cursor ? { cursor } : {}) } } }),
        );
        all.push(...page.items.map((s) => ({ name: s.name, properties: s.metadata })));
        cursor = page.nextCursor;
      } while (cursor);
      return all;
    },
    async environments(service) {
      return unwrap(await config.GET('/config/{service}', { params: { path: { service } } })).environments;
    },
    async sourceCommit(service, version) {
      const build = await orUndefined(async () =>
        unwrap(
          await baking.GET('/services/{service}/versions/{version}/build', { params: { path: { service, version } } }),
        ),
      );
      return build?.commit;
    },
    async contains(service, version, commit) {
      const answer = await orUndefined(async () =>
        unwrap(
          await baking.GET('/services/{service}/versions/{version}/contains/{commit}', {
            params: { path: { service, version, commit } },
          }),
        ),
      );
      return answer?.contains ?? undefined;
    },
  };
}

/** Finds a service's newest image of a version (releases name versions as well as images). */
export interface ImageFinder {
  imageOf(service: string, version: string): Promise<ImageRecord | undefined>;
}

export function httpImageFinder(bakingUrl: string, token: string): ImageFinder {
  const baking = createServiceClient<BakingPaths>({ baseUrl: bakingUrl, token });
  return {
    async imageOf(service, version) {
      const { items } = unwrap(await baking.GET('/images', { params: { query: { service, kind: 'service' } } }));
      return items.find((image) => image.version === version);
    },
  };
}
