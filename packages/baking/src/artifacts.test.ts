import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ConflictError, PayloadTooLargeError, UnprocessableError } from '@slipway/core';
import { packageTarball, recordAwsActions, startMoto, type TestMoto } from '@slipway/test-utils';
import { createLocalArtifactStore, createS3ArtifactStore } from './artifacts.js';

// Artifacts are tarballs of a package (artifact-check.ts): two of them, with other content.
const body = await packageTarball({ 'index.js': 'a tarball, say' });
const other = await packageTarball({ 'index.js': 'other' });
const sha256 = createHash('sha256').update(body).digest('hex');

// Against moto's S3, path-style (the bucket in the path, as SLIPWAY_S3_FORCE_PATH_STYLE asks).
describe('S3 artifact store', () => {
  let moto: TestMoto;
  let s3: S3Client;
  let store: ReturnType<typeof createS3ArtifactStore>;
  beforeAll(async () => {
    moto = await startMoto();
  }, 60_000);
  afterAll(async () => {
    await moto.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    s3 = new S3Client({ ...moto.client, forcePathStyle: true });
    await s3.send(
      new CreateBucketCommand({
        Bucket: 'artifacts-bucket',
        CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
      }),
    );
    store = createS3ArtifactStore({
      bucket: 'artifacts-bucket',
      // The code's own credentials: its calls are checked against the documented IAM policy.
      client: new S3Client({ ...moto.slipway, forcePathStyle: true }),
      cacheDir: await mkdtemp(join(tmpdir(), 'slipway-s3-')),
      maxBytes: 1024,
      pageSize: 2,
    });
  });

  it('puts a new version with its sha256 and uploader as metadata, under artifacts/<service>/', async () => {
    const { artifact, created } = await store.put('search', '1.0.0', Readable.from([body]), 'ci');
    expect(created).toBe(true);
    expect(artifact).toMatchObject({
      service: 'search',
      version: '1.0.0',
      sha256,
      size: body.length,
      uploadedBy: 'ci',
    });
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: 'artifacts-bucket', Key: 'artifacts/search/1.0.0.tgz' }),
    );
    expect(head.Metadata).toMatchObject({ sha256, 'uploaded-by': 'ci' });
    expect(await store.get('search', '1.0.0')).toMatchObject({ sha256, size: body.length, uploadedBy: 'ci' });
    expect(await store.get('search', '9.9.9')).toBeUndefined();
  });

  it('accepts the same content again and refuses other content, without writing', async () => {
    await store.put('search', '1.0.0', Readable.from([body]), 'ci');
    expect((await store.put('search', '1.0.0', Readable.from([body]), 'someone')).created).toBe(false);
    await expect(store.put('search', '1.0.0', Readable.from([other]), 'ci')).rejects.toThrow(ConflictError);
    const object = await s3.send(
      new GetObjectCommand({ Bucket: 'artifacts-bucket', Key: 'artifacts/search/1.0.0.tgz' }),
    );
    expect(Buffer.from(await object.Body!.transformToByteArray())).toEqual(body);
  });

  it('refuses a body over the limit', async () => {
    await expect(store.put('search', '2.0.0', Readable.from([Buffer.alloc(2048)]), 'ci')).rejects.toThrow(
      PayloadTooLargeError,
    );
  });

  it('lists every version across pages and downloads one for Packer, checking its sha256', async () => {
    for (const version of ['1.0.0', '1.0.1', '1.0.2', '1.1.0', '2.0.0'])
      await store.put('search', version, Readable.from([body]), 'ci');
    await s3.send(new PutObjectCommand({ Bucket: 'artifacts-bucket', Key: 'artifacts/other/1.0.0.tgz', Body: 'x' }));
    const listed = await store.list('search');
    expect(listed.map((a) => a.version).sort()).toEqual(['1.0.0', '1.0.1', '1.0.2', '1.1.0', '2.0.0']);
    const file = await store.localPath(listed[0]!);
    expect(await readFile(file)).toEqual(body);
  });

  it('deletes a version', async () => {
    await store.put('search', '1.0.0', Readable.from([body]), 'ci');
    expect(await store.delete('search', '1.0.0')).toBe(true);
    expect(await store.get('search', '1.0.0')).toBeUndefined();
  });

  it('asks S3 only for what the documented IAM policy allows (templates/aws/iam-policy.json)', async () => {
    const { used, missing } = await recordAwsActions(moto, 'baking-artifacts');
    expect(used).toEqual(expect.arrayContaining(['s3:PutObject', 's3:GetObject', 's3:DeleteObject']));
    expect(missing).toEqual([]);
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
    await expect(store.put('search', '1.0.0', Readable.from([other]), 'ci')).rejects.toThrow(ConflictError);
    await writeFile(join(dir, 'search', '1.0.0.tgz'), 'damaged on disk');
    const replaced = await store.put('search', '1.0.0', Readable.from([other]), 'ci');
    expect(replaced.created).toBe(true);
    expect(replaced.artifact.sha256).toBe(createHash('sha256').update(other).digest('hex'));
    expect(await store.delete('search', '1.0.0')).toBe(true);
    expect(await store.get('search', '1.0.0')).toBeUndefined();
    expect(await store.delete('search', '1.0.0')).toBe(false);
  });
});
