import { afterEach, beforeEach, describe } from 'vitest';
import type { BackupJob, RestoreJob } from '#core/model/job.ts';
import type { Image, ImageClaim } from '#core/model/image.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import { Policy } from '#core/model/policy.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { makeBackupId } from '#core/ids.ts';

/** How a contract suite gets a fresh, empty store of the adapter under test. */
export interface StoreFixture<T> {
  store: T;
  cleanup?: () => Promise<void>;
}
export type OpenStore<T> = () => Promise<StoreFixture<T>>;

export function samplePolicy(name = 'daily-home', overrides: Partial<Policy> = {}): Policy {
  return Policy.parse({
    name,
    clients: [{ name: 'client1' }, { name: 'client2', priority: 10 }],
    selections: ['/home', '/etc'],
    schedules: [{ name: 'full', type: 'full', frequency: 604800, windows: [{ days: ['sat'], start: '22:00', duration: 36000 }], retention: { days: 28 } }],
    storageUnit: 'disk1',
    ...overrides,
  });
}

export function sampleStorageUnit(name = 'disk1'): StorageUnit {
  return StorageUnit.parse({ name, kind: 'disk', path: '/var/cairn/disk1', maxConcurrentJobs: 2 });
}

export function sampleJob(jobId: number, overrides: Partial<BackupJob> = {}): BackupJob {
  const at = new Date(Date.UTC(2026, 10, 1, 2, 0, jobId)).toISOString();
  return {
    jobId,
    type: 'backup',
    state: 'QUEUED',
    attempt: 1,
    policy: 'daily-home',
    client: 'client1',
    schedule: 'full',
    level: 'full',
    storageUnit: 'disk1',
    selections: ['/home'],
    exclude: [],
    retentionDays: 14,
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    unreadable: [],
    attempts: [],
    queuedAt: at,
    updatedAt: at,
    ...overrides,
  };
}

/** A restore job (nothing queues one yet; the stores keep every kind). */
export function sampleRestoreJob(jobId: number, overrides: Partial<RestoreJob> = {}): RestoreJob {
  const at = new Date(Date.UTC(2026, 10, 1, 3, 0, jobId)).toISOString();
  return {
    jobId,
    type: 'restore',
    state: 'QUEUED',
    attempt: 1,
    client: 'client1',
    source: { pointInTime: '2026-11-01T02:00:00.000Z', policy: 'daily-home' },
    target: { client: 'client2', directory: '/restore', existing: 'rename' },
    paths: ['/home/user'],
    continueOnError: false,
    volumes: [],
    notRestored: [],
    progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
    attempts: [],
    queuedAt: at,
    updatedAt: at,
    ...overrides,
  };
}

/** An image with one copy (copy 1) on `storageUnit` (default `disk1`), one object fragment. */
export function sampleImage(client: string, at: Date, overrides: Partial<Image> & { storageUnit?: string } = {}): Image {
  const backupId = makeBackupId(client, at);
  const { storageUnit = 'disk1', ...rest } = overrides;
  return {
    backupId,
    client,
    policy: 'daily-home',
    schedule: 'full',
    level: 'full',
    jobId: 1,
    statusCode: 0,
    fileCount: 3,
    bytes: 10240,
    createdAt: at.toISOString(),
    expiresAt: new Date(at.getTime() + 14 * 86400_000).toISOString(),
    state: 'ACTIVE',
    copies: [
      {
        copyNumber: 1,
        storageUnit,
        fragments: [{ number: 1, bytes: 10240, sha256: 'a'.repeat(64), location: { kind: 'object', key: `images/${client}/${backupId}/fragment-00001.tar` } }],
        indexKey: `images/${client}/${backupId}/index.ndjson.gz`,
        indexSha256: 'b'.repeat(64),
        manifestKey: `images/${client}/${backupId}/manifest.json`,
      },
    ],
    ...rest,
  };
}

/** The claim a job takes on an image's backup id before writing it (its primary copy's storage unit). */
export function claimOf(image: Image, jobId = image.jobId): ImageClaim {
  return { backupId: image.backupId, jobId, client: image.client, storageUnit: image.copies[0]!.storageUnit, claimedAt: image.createdAt };
}

/** Catalogues an image the way a job does: claim its backup id, then commit. */
export async function claimAndCommit(store: CatalogStore, image: Image): Promise<void> {
  if (!(await store.claimBackupId(claimOf(image)))) throw new Error(`backup id ${image.backupId} is taken`);
  await store.putImage(image);
}

/**
 * The frame every contract suite shares: a fresh store per test, cleaned up
 * after, and a one-line skip reason when the adapter's backing is missing.
 */
export function describeContract<T>(port: string, adapter: string, open: OpenStore<T>, skipReason: string | undefined, body: (store: () => T) => void): void {
  describe.skipIf(Boolean(skipReason))(`${port} contract: ${adapter}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fixture: StoreFixture<T> | undefined;
    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture?.cleanup?.();
      fixture = undefined;
    });
    body(() => {
      if (!fixture) throw new Error('the store is only open inside a test');
      return fixture.store;
    });
  });
}
