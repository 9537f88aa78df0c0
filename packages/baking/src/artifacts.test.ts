import { beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/util-stream';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ConflictError, PayloadTooLargeError, UnprocessableError } from '@slipway/core';
import { createLocalArtifactStore, createS3ArtifactStore } from './artifacts.js';

const s3 = mockClient(S3Client);
const body = gzipSync('a tarball, say');
const sha256 = createHash('sha256').update(body).digest('hex');
const notFound = () => Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: {} });

describe('S3 artifact store', () => {
  let store: ReturnType<typeof createS3ArtifactStore>;
  beforeEach(async () => {
    s3.reset();
    store = createS3ArtifactStore({
      bucket: 'artifacts-bucket',
      client: new S3Client({ region: 'eu-west-1' }),
      cacheDir: await mkdtemp(join(tmpdir(), 'slipway-s3-')),
      maxBytes: 1024,
    });
  });

  it('puts a new version with its sha256, checked by S3 on arrival', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(PutObjectCommand).resolves({});
    const { artifact, created } = await store.put('search', '1.0.0', Readable.from([body]), 'ci');
    expect(created).toBe(true);
    expect(artifact).toMatchObject({
      service: 'search',
      version: '1.0.0',
      sha256,
      size: body.length,
      uploadedBy: 'ci',
    });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'artifacts-bucket',
      Key: 'artifacts/search/1.0.0.tgz',
      ContentLength: body.length,
      ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
      Metadata: expect.objectContaining({ sha256, 'uploaded-by': 'ci' }),
    });
  });

  it('accepts the same content again and refuses other content, without writing', async () => {
    s3.on(HeadObjectCommand).resolves({
      ContentLength: body.length,
      Metadata: { sha256, 'uploaded-by': 'ci', 'uploaded-at': '2026-11-01T00:00:00Z' },
    });
    expect((await store.put('search', '1.0.0', Readable.from([body]), 'ci')).created).toBe(false);
    await expect(store.put('search', '1.0.0', Readable.from([gzipSync('other')]), 'ci')).rejects.toThrow(ConflictError);
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it('refuses a body over the limit', async () => {
    await expect(store.put('search', '2.0.0', Readable.from([Buffer.alloc(2048)]), 'ci')).rejects.toThrow(
      PayloadTooLargeError,
    );
  });

  it('lists versions and downloads one for Packer, checking its sha256', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'artifacts/search/1.0.0.tgz' }] });
    s3.on(HeadObjectCommand).resolves({
      ContentLength: body.length,
      Metadata: { sha256, 'uploaded-by': 'ci', 'uploaded-at': '2026-11-01T00:00:00Z' },
    });
    s3.on(GetObjectCommand).callsFake(() => ({ Body: sdkStreamMixin(Readable.from([body])) }));
    const [artifact] = await store.list('search');
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: 'artifacts-bucket',
      Prefix: 'artifacts/search/',
    });
    const file = await store.localPath(artifact!);
    expect(await readFile(file)).toEqual(body);
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: 'artifacts-bucket',
      Key: 'artifacts/search/1.0.0.tgz',
    });
  });
});

describe('local artifact store', () => {
  it('keeps nothing of a refused upload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-artifacts-'));
    const store = createLocalArtifactStore({ dir, maxBytes: 10 });
    await expect(store.put('search', '1.0.0', Readable.from([Buffer.alloc(100)]), 'ci')).rejects.toThrow(
      PayloadTooLargeError,
    );
    expect(await store.list('search')).toEqual([]);
  });

  it('refuses bytes that are not gzip, and a gzip cut short, keeping nothing', async () => {
    const store = createLocalArtifactStore({
      dir: await mkdtemp(join(tmpdir(), 'slipway-artifacts-')),
      maxBytes: 1024,
    });
    await expect(store.put('search', '1.0.0', Readable.from([Buffer.from('plain text')]), 'ci')).rejects.toThrow(
      UnprocessableError,
    );
    await expect(store.put('search', '1.0.0', Readable.from([body.subarray(0, 12)]), 'ci')).rejects.toThrow(
      /not a gzip-compressed tarball/,
    );
    expect(await store.list('search')).toEqual([]);
  });

  it('replaces a stored version whose bytes are damaged, and deletes a version', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-artifacts-'));
    const store = createLocalArtifactStore({ dir, maxBytes: 1024 });
    await store.put('search', '1.0.0', Readable.from([body]), 'ci');
    await expect(store.put('search', '1.0.0', Readable.from([gzipSync('other')]), 'ci')).rejects.toThrow(ConflictError);
    await writeFile(join(dir, 'search', '1.0.0.tgz'), 'damaged on disk');
    const replaced = await store.put('search', '1.0.0', Readable.from([gzipSync('other')]), 'ci');
    expect(replaced.created).toBe(true);
    expect(replaced.artifact.sha256).toBe(createHash('sha256').update(gzipSync('other')).digest('hex'));
    expect(await store.delete('search', '1.0.0')).toBe(true);
    expect(await store.get('search', '1.0.0')).toBeUndefined();
    expect(await store.delete('search', '1.0.0')).toBe(false);
  });
});
