import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectLockConfigurationCommand,
  ListObjectVersionsCommand,
  AbortMultipartUploadCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { NotFoundError, ValidationError } from '#core/errors.ts';
import { readAll } from '#core/ports/object-store.ts';
import { describeObjectStoreContract } from '#test/contracts/object-store-contract.ts';
import type { StoreFixture } from '#test/contracts/fixtures.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const clients = 'endpoint' in emulator ? emulatorClients(emulator.endpoint) : undefined;
afterAll(async () => {
  clients?.destroy();
  if ('stop' in emulator) await emulator.stop();
});

interface BucketFixture extends StoreFixture<S3ObjectStore> {
  bucket: string;
  s3: S3Client;
  cleanup: () => Promise<void>;
}

/**
 * A fresh bucket per test; the store writes under a prefix so prefix handling
 * is exercised too, in parts of S3's smallest size (5 MiB), so a few MiB
 * make a multipart upload.
 */
async function openBucket(options: { objectLock?: boolean; prefix?: string } = {}): Promise<BucketFixture> {
  const s3 = clients!.s3;
  const bucket = `cairn-test-${randomUUID().slice(0, 13)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: options.objectLock }));
  if (options.objectLock) {
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } },
      }),
    );
  }
  const cleanup = async (): Promise<void> => {
    for (const upload of (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key!, UploadId: upload.UploadId! }));
    }
    let marker: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, ...marker }));
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: v.Key!, VersionId: v.VersionId, BypassGovernanceRetention: options.objectLock }));
      }
      if (!page.IsTruncated) break;
      marker = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  };
  return { store: new S3ObjectStore({ bucket, prefix: options.prefix ?? 'cairn/disk1', client: s3, partSizeBytes: 5 * 1024 * 1024 }), bucket, s3, cleanup };
}

describeObjectStoreContract('S3', () => openBucket(), skip);

async function* failingAfter(data: Buffer): AsyncIterable<Uint8Array> {
  yield data;
  throw new Error('reader died');
}

describe.skipIf(Boolean(skip))('S3ObjectStore', () => {
  it('aborts the multipart upload when the body fails after some parts were sent', async () => {
    // Prepare
    const { store, bucket, s3, cleanup } = await openBucket();
    try {
      // Act: 20 MiB are three parts sent and a fourth full before the reader dies.
      await expect(store.put('big.bin', failingAfter(randomBytes(20 * 1024 * 1024)))).rejects.toThrow('reader died');
      // Assess
      expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).toEqual([]);
      expect(await store.head('big.bin')).toBeUndefined();
    } finally {
      await cleanup();
    }
  });

  it('removes every version of a staged image in a versioned bucket, and leaves the neighbours', async () => {
    const { store, bucket, s3, cleanup } = await openBucket();
    try {
      await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
      await store.put('images/c1/c1_1/fragment-00001.tar', Buffer.from('first'));
      await store.put('images/c1/c1_1/fragment-00001.tar', Buffer.from('second'));
      await store.put('images/c1/c1_1/index.ndjson.gz', Buffer.from('index'));
      await store.delete('images/c1/c1_1/index.ndjson.gz');
      await store.put('images/c1/c1_10/fragment-00001.tar', Buffer.from('neighbour'));

      expect(await store.deletePrefix('images/c1/c1_1/')).toEqual({ objects: 2, incomplete: 0, bytes: 16 });

      const left = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'cairn/disk1/images/' }));
      expect([...(left.Versions ?? []), ...(left.DeleteMarkers ?? [])].map((v) => v.Key)).toEqual(['cairn/disk1/images/c1/c1_10/fragment-00001.tar']);
    } finally {
      await cleanup();
    }
  });

  it('keeps keys under its prefix and lists them without it', async () => {
    const { store, bucket, s3, cleanup } = await openBucket({ prefix: 'site-a/' });
    try {
      await store.put('images/x', Buffer.from('x'));
      const other = new S3ObjectStore({ bucket, prefix: 'site-b', client: s3 });
      await other.put('images/y', Buffer.from('y'));
      expect(await store.list('')).toEqual(['images/x']);
      expect(await other.list('images/')).toEqual(['images/y']);
      await expect(other.get('images/x')).rejects.toBeInstanceOf(NotFoundError);
      expect(() => new S3ObjectStore({ bucket, prefix: '../up', client: s3 })).toThrow(ValidationError);
    } finally {
      await cleanup();
    }
  });

  it('reads nothing from a range that starts at or after the end of the object', async () => {
    const { store, cleanup } = await openBucket();
    try {
      await store.put('r.bin', Buffer.from('0123456789'));
      expect((await readAll(await store.get('r.bin', { start: 10 }))).length).toBe(0);
      expect((await readAll(await store.get('r.bin', { start: 4, end: 4 }))).length).toBe(0);
      expect((await readAll(await store.get('r.bin', { start: 8, end: 100 }))).toString()).toBe('89');
      await expect(store.get('missing', { start: 3, end: 3 })).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await cleanup();
    }
  });

  it('writes to an Object Lock bucket with default retention, small and multipart', async () => {
    const { store, cleanup } = await openBucket({ objectLock: true });
    try {
      const large = randomBytes(9 * 1024 * 1024);
      expect(await store.put('locked/small', Buffer.from('kept'))).toEqual({ bytes: 4 });
      expect(await store.put('locked/large', large)).toEqual({ bytes: large.length });
      expect((await readAll(await store.get('locked/small'))).toString()).toBe('kept');
      expect((await readAll(await store.get('locked/large'))).equals(large)).toBe(true);
    } finally {
      await cleanup();
    }
  });
});
