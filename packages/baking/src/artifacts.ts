/**
 * Service artifacts: a .tgz of the built service per version, stored with its sha256. A version
 * once stored never changes: uploading it again with other content is a ConflictError — unless
 * what is stored is damaged (its bytes lost or not matching their sha256), which a new upload
 * replaces; an admin can delete a version. Bytes that are not a gzip tarball of the service's
 * package, or hold what a bake must not unpack, are refused on arrival (artifact-check.ts).
 * Locally they live under $SLIPWAY_HOME/artifacts; on AWS in an S3 bucket.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { ConflictError, PayloadTooLargeError, UnprocessableError } from '@slipway/core';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { checkArtifact } from './artifact-check.js';

export interface Artifact {
  service: string;
  version: string;
  sha256: string;
  size: number;
  uploadedAt: string;
  uploadedBy: string;
}

export interface ArtifactStore {
  /** Stores the body; `created` false when the same content was already there. */
  put(service: string, version: string, body: Readable, by: string): Promise<{ artifact: Artifact; created: boolean }>;
  get(service: string, version: string): Promise<Artifact | undefined>;
  list(service: string): Promise<Artifact[]>;
  /** A local file path holding the artifact's bytes (downloaded first when remote). */
  localPath(artifact: Artifact): Promise<string>;
  /** Removes a version; false when there was none. */
  delete(service: string, version: string): Promise<boolean>;
}

/** How much bigger than its compressed size an artifact may unpack to (a gzip bomb is refused). */
const MAX_EXPANSION = 20;

/** Streams a body to a file, hashing it on the way, refusing more than maxBytes. */
async function receive(body: Readable, file: string, maxBytes: number): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) {
        done(new PayloadTooLargeError(`artifact is larger than ${maxBytes} bytes`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(body, meter, createWriteStream(file));
  await mustBeGzip(file, maxBytes * MAX_EXPANSION);
  await checkArtifact(file);
  return { sha256: hash.digest('hex'), size };
}

/** Unpacks the whole file to nowhere: anything but complete, well-formed gzip is refused (422). */
async function mustBeGzip(file: string, maxUnpackedBytes: number): Promise<void> {
  let unpacked = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      unpacked += chunk.length;
      done(unpacked > maxUnpackedBytes ? new Error(`it unpacks to more than ${maxUnpackedBytes} bytes`) : null);
    },
  });
  try {
    await pipeline(createReadStream(file), createGunzip(), sink);
  } catch (error) {
    throw new UnprocessableError(`the artifact is not a gzip-compressed tarball: ${(error as Error).message}`);
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * A version once stored never changes: the same content again is fine, other content a
 * conflict. A damaged one (`intact` false) is not kept: undefined, so the upload replaces it.
 */
async function alreadyStored(
  existing: Artifact | undefined,
  sha256: string,
  intact: (artifact: Artifact) => Promise<boolean>,
): Promise<Artifact | undefined> {
  if (!existing || !(await intact(existing))) return undefined;
  if (existing.sha256 !== sha256) {
    throw new ConflictError(
      `${existing.service} ${existing.version} is already stored with other content (sha256 ${existing.sha256})`,
    );
  }
  return existing;
}

export function createLocalArtifactStore({ dir, maxBytes }: { dir: string; maxBytes: number }): ArtifactStore {
  const meta = (service: string, version: string) => join(dir, service, `${version}.json`);
  const tarball = (service: string, version: string) => join(dir, service, `${version}.tgz`);
  const store: ArtifactStore = {
    async put(service, version, body, by) {
      await mkdir(join(dir, service), { recursive: true });
      const partial = join(dir, service, `.${version}.${randomBytes(4).toString('hex')}.partial`);
      try {
        const { sha256, size } = await receive(body, partial, maxBytes);
        const existing = await alreadyStored(await store.get(service, version).catch(() => undefined), sha256, intact);
        if (existing) return { artifact: existing, created: false };
        const artifact: Artifact = {
          service,
          version,
          sha256,
          size,
          uploadedAt: new Date().toISOString(),
          uploadedBy: by,
        };
        await rename(partial, tarball(service, version));
        await writeFile(meta(service, version), JSON.stringify(artifact, null, 2));
        return { artifact, created: true };
      } finally {
        await rm(partial, { force: true });
      }
    },
    async get(service, version) {
      const file = meta(service, version);
      return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as Artifact) : undefined;
    },
    async delete(service, version) {
      const existed = existsSync(meta(service, version)) || existsSync(tarball(service, version));
      // The record first: a crash in between leaves bytes without a record, never the reverse.
      await rm(meta(service, version), { force: true });
      await rm(tarball(service, version), { force: true });
      return existed;
    },
    async list(service) {
      const entries = existsSync(join(dir, service)) ? await readdir(join(dir, service)) : [];
      const artifacts = await Promise.all(
        entries.filter((e) => e.endsWith('.json')).map((e) => store.get(service, e.slice(0, -'.json'.length))),
      );
      return artifacts.filter((a): a is Artifact => !!a).sort((a, b) => b.uploadedAt.localeCompare(a.uploadedAt));
    },
    async localPath(artifact) {
      return tarball(artifact.service, artifact.version);
    },
  };
  /** Its bytes are there, match their sha256 and unpack. */
  async function intact(artifact: Artifact): Promise<boolean> {
    const file = tarball(artifact.service, artifact.version);
    try {
      if ((await sha256Of(file)) !== artifact.sha256) return false;
      await mustBeGzip(file, maxBytes * MAX_EXPANSION);
      return true;
    } catch {
      return false;
    }
  }
  return store;
}

export interface S3ArtifactStoreOptions {
  bucket: string;
  client: S3Client;
  /** Where downloaded artifacts are kept for Packer. */
  cacheDir: string;
  maxBytes: number;
  prefix?: string;
  /** Keys per list page (S3's most is 1,000): small in tests, to prove paging. */
  pageSize?: number;
}

/** Artifacts in S3: `<prefix><service>/<version>.tgz`, with sha256 and uploader as object metadata. */
export function createS3ArtifactStore(options: S3ArtifactStoreOptions): ArtifactStore {
  const { bucket, client } = options;
  const key = (service: string, version: string) => `${options.prefix ?? 'artifacts/'}${service}/${version}.tgz`;
  const store: ArtifactStore = {
    async put(service, version, body, by) {
      // Received and hashed locally first: S3 is told the sha256 and checks it on arrival.
      await mkdir(options.cacheDir, { recursive: true });
      const file = join(options.cacheDir, `.${service}-${version}.${randomBytes(4).toString('hex')}.partial`);
      try {
        const { sha256, size } = await receive(body, file, options.maxBytes);
        // S3 checked each object's sha256 on arrival: one without its sha256 is the damaged kind.
        const existing = await alreadyStored(await store.get(service, version), sha256, async (a) => a.sha256 !== '');
        if (existing) return { artifact: existing, created: false };
        const uploadedAt = new Date().toISOString();
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key(service, version),
            Body: createReadStream(file),
            ContentLength: size,
            ContentType: 'application/gzip',
            ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
            Metadata: { sha256, 'uploaded-by': by, 'uploaded-at': uploadedAt },
          }),
        );
        return { artifact: { service, version, sha256, size, uploadedAt, uploadedBy: by }, created: true };
      } finally {
        await rm(file, { force: true });
      }
    },
    async get(service, version) {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key(service, version) }));
        return {
          service,
          version,
          sha256: head.Metadata?.sha256 ?? '',
          size: head.ContentLength ?? 0,
          uploadedAt: head.Metadata?.['uploaded-at'] ?? head.LastModified?.toISOString() ?? '',
          uploadedBy: head.Metadata?.['uploaded-by'] ?? '',
        };
      } catch (error) {
        if ((error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    async delete(service, version) {
      if (!(await store.get(service, version))) return false;
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(service, version) }));
      return true;
    },
    async list(service) {
      const prefix = key(service, '').replace(/\.tgz$/, '');
      const objects = [];
      const paging = { client, ...(options.pageSize ? { pageSize: options.pageSize } : {}) };
      for await (const page of paginateListObjectsV2(paging, { Bucket: bucket, Prefix: prefix }))
        objects.push(...(page.Contents ?? []));
      const versions = objects
        .map((object) => object.Key?.slice(prefix.length).replace(/\.tgz$/, ''))
        .filter((v): v is string => !!v);
      const artifacts = await Promise.all(versions.map((v) => store.get(service, v)));
      return artifacts.filter((a): a is Artifact => !!a).sort((a, b) => b.uploadedAt.localeCompare(a.uploadedAt));
    },
    async localPath(artifact) {
      const file = join(options.cacheDir, artifact.service, `${artifact.version}-${artifact.sha256.slice(0, 12)}.tgz`);
      if (existsSync(file) && (await stat(file)).size === artifact.size) return file;
      await mkdir(join(options.cacheDir, artifact.service), { recursive: true });
      const object = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key(artifact.service, artifact.version) }),
      );
      const { sha256 } = await receive(object.Body as Readable, `${file}.partial`, options.maxBytes);
      if (sha256 !== artifact.sha256)
        throw new Error(`${artifact.service} ${artifact.version} from S3 does not match its sha256`);
      await rename(`${file}.partial`, file);
      return file;
    },
  };
  return store;
}
