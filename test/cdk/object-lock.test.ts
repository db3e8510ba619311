import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectLockConfigurationCommand,
  type ObjectLockConfiguration,
} from '@aws-sdk/client-s3';
import { S3ObjectStore } from '#aws/s3-object-store.ts';
import { readAll } from '#core/ports/object-store.ts';
import { emulatorClients, startAwsEmulator } from '#test/setup/aws-emulator.ts';
import { ImageStore, type ObjectLockSettings } from '../../cdk/constructs/image-store.ts';
import { cdkJsonContext } from './synth-fixture.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
const clients = 'endpoint' in emulator ? emulatorClients(emulator.endpoint) : undefined;
afterAll(async () => {
  clients?.destroy();
  if ('stop' in emulator) await emulator.stop();
});

/**
 * The Object Lock configuration the image bucket is synthesized with, read off
 * its CloudFormation resource (resolved as the template would have it) rather
 * than through a full synth, which costs many seconds of start-up.
 */
function synthesizedLock(lock: ObjectLockSettings): ObjectLockConfiguration {
  // cdk.json's feature flags, as the app has them (the access log bucket's policy depends on one).
  const stack = new Stack(new App({ context: cdkJsonContext() }), 'Lock');
  const images = new ImageStore(stack, 'Images', { objectLock: lock });
  const resource = stack.resolve((images.bucket.node.defaultChild as CfnBucket)._toCloudFormation()) as { Resources: Record<string, { Properties: { ObjectLockConfiguration: ObjectLockConfiguration } }> };
  return Object.values(resource.Resources)[0]!.Properties.ObjectLockConfiguration;
}

/** A bucket on the emulator configured as the template says: Object Lock enabled at creation, then the template's default retention. */
async function lockedBucket(lock: ObjectLockSettings): Promise<string> {
  const bucket = `cairn-lock-${randomUUID().slice(0, 13)}`;
  await clients!.s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  await clients!.s3.send(new PutObjectLockConfigurationCommand({ Bucket: bucket, ObjectLockConfiguration: synthesizedLock(lock) }));
  return bucket;
}

const DAY_MS = 86_400_000;

/**
 * What the Object Lock option means for the objects the agent writes, on the
 * emulator (moto implements Object Lock): each version the S3 store puts is
 * locked by the bucket default for the configured days; the agent's delete
 * (no version id) only adds a marker; deleting the version is refused.
 * Buckets are left behind: locked versions cannot be removed, and the
 * emulator is discarded with the test file.
 */
describe.skipIf(Boolean(skip))(`Object Lock default retention on the emulator${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('locks every version the S3 store writes, in governance mode, for the configured days; the agent delete only hides it', async () => {
    const bucket = await lockedBucket({ mode: 'GOVERNANCE', days: 3 });
    const store = new S3ObjectStore({ bucket, prefix: 'unit', client: clients!.s3 });
    const before = Date.now();
    expect(await store.put('images/c1/c1_1/manifest.json', Buffer.from('{"image":"c1_1"}'))).toEqual({ bytes: 16 });

    const head = await clients!.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'unit/images/c1/c1_1/manifest.json' }));
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    const until = head.ObjectLockRetainUntilDate!.getTime();
    expect(until).toBeGreaterThan(before + 3 * DAY_MS - 60_000);
    expect(until).toBeLessThan(Date.now() + 3 * DAY_MS + 60_000);

    // The agent's cleanup of a failed image: a delete without a version id.
    await store.delete('images/c1/c1_1/manifest.json');
    const versions = await clients!.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'unit/' }));
    expect(versions.DeleteMarkers).toHaveLength(1);
    expect(versions.Versions).toHaveLength(1);
    const versionId = versions.Versions![0]!.VersionId!;
    await expect(clients!.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'unit/images/c1/c1_1/manifest.json', VersionId: versionId }))).rejects.toThrow(/Access ?Denied/i);

    // Removing the marker brings the image object back, bytes intact.
    const marker = versions.DeleteMarkers![0]!.VersionId!;
    await clients!.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'unit/images/c1/c1_1/manifest.json', VersionId: marker }));
    expect((await readAll(await store.get('images/c1/c1_1/manifest.json'))).toString()).toBe('{"image":"c1_1"}');
  });

  it('in compliance mode refuses even a delete that asks to bypass governance retention', async () => {
    const bucket = await lockedBucket({ mode: 'COMPLIANCE', days: 1 });
    const store = new S3ObjectStore({ bucket, client: clients!.s3 });
    await store.put('images/c1/c1_2/index', Buffer.from('index'));
    const head = await clients!.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'images/c1/c1_2/index' }));
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
    await expect(
      clients!.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'images/c1/c1_2/index', VersionId: head.VersionId, BypassGovernanceRetention: true })),
    ).rejects.toThrow(/Access ?Denied/i);
  });
});
