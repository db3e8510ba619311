import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import { localDuplicateDeps } from '#local/duplicate-deps.ts';
import { runDueDuplicates } from '#local/duplicate-tick.ts';
import { duplicateImage } from '#agent/duplicate/duplicate-image.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { copyOf, type Image } from '#core/model/image.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { imageKeys } from '#core/ids.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { samplePolicy } from '../contracts/fixtures.ts';
import { restoreAndCompare, tapeLibraryRuntime } from './tape-library-runtime.ts';
import { restoreFromCopies } from '#agent/restore/copy-fallback.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();

/** A marker no other byte run of the image repeats, so a test finds its file's data on the volume. */
const MARKER = Buffer.from('cairn-tape-copy-marker-'.repeat(800));

/** Drives whose writes flip one byte of the first record run that holds the marker: a bad write the drive does not notice. */
function corruptingDevices(): TapeDevices {
  let done = false;
  return {
    ...realTapeDevices,
    openDrive: async (access) => {
      const drive = await realTapeDevices.openDrive(access);
      return new Proxy(drive, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target) as unknown;
          if (prop === 'writeRecords') {
            return async (data: Uint8Array) => {
              const at = done ? -1 : Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(MARKER.subarray(0, 64));
              if (at >= 0) {
                done = true;
                const copy = Uint8Array.from(data);
                copy[at + 100] = copy[at + 100]! ^ 0x01;
                return target.writeRecords(copy);
              }
              return target.writeRecords(data);
            };
          }
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }) as TapeDrive;
    },
  };
}

/** A store whose listing fails as S3 does for a caller without s3:ListBucket. */
function withoutListing(store: ObjectStore): ObjectStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'list') return async (prefix: string) => Promise.reject(new Error(`AccessDenied: not allowed to list ${prefix}`));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * `cairn duplicate` to a tape unit (and the policy tick's copies), in the
 * standalone runtime: SQLite stores, the broker's reservation, the agent's
 * Mount and Unmount, Debian's disk-changer as a real virtual library of
 * file tapes. The primary copy is a real backup on a disk unit.
 */
describe.skipIf(Boolean(skip))(`duplication to tape${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setUp(options: { capacityBytes?: number } = {}): Promise<string> {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6' }, drives: 1, unmountDelaySeconds: 0, ...(options.capacityBytes ? { capacityBytes: options.capacityBytes } : {}) });
    ({ library, runtime, cleanup, work } = made);
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1'), fragmentSizeBytes: 1024 * 1024 }));
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    return join(work, 'source');
  }

  async function backupToDisk(source: string): Promise<Image> {
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'disk1' });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    return (await runtime.catalog.getImage(run.backupId!))!;
  }

  /** Nothing held, nothing loaded, no holder registered. */
  async function expectReleased(): Promise<void> {
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
    const holders = join(runtime.home, 'holders');
    expect(existsSync(holders) ? readdirSync(holders) : []).toEqual([]);
  }

  /** The image as if its disk copy had expired before the tape copy: copy 2 is the primary, which restore and verify jobs read. */
  async function dropDiskCopy(backupId: string): Promise<Image> {
    return (await runtime.catalog.updateImage(backupId, (i) => ({ ...i, copies: i.copies.filter((c) => c.copyNumber !== 1) })))!;
  }

  const volumesOf = (image: Image, copyNumber: number): string[] => [...new Set(copyOf(image, copyNumber)!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))];

  it('copies a disk image to tape (verified, catalogued as copy 2 with its volume); a tape restore and verify read it; the drive is unloaded and released', async () => {
    const source = await setUp();
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
    const image = await backupToDisk(source);
    const waits: string[] = [];

    // The source is read without listing it (the cloud agent may not list S3), and an object no record names is not copied.
    const stray = `${imageKeys(image.backupId).prefix}/stray.bin`;
    writeFileSync(join(work, 'disk1', stray), 'not vouched for');
    const deps = localDuplicateDeps(runtime, { onWait: (r) => waits.push(r) });
    const unlistable = { ...deps, openStorageUnit: async (unit: StorageUnit) => (unit.name === 'disk1' ? withoutListing(await deps.openStorageUnit(unit)) : deps.openStorageUnit(unit)) };

    const result = await duplicateImage(unlistable, { backupId: image.backupId, to: 'tape1' });
    expect(result).toMatchObject({ backupId: image.backupId, copyNumber: 2, storageUnit: 'tape1', fromCopy: 1, volumes: ['CRN001L6'] });
    const tapeIndexStore = await deps.openStorageUnit((await runtime.config.getStorageUnit('tape1'))!);
    expect((await tapeIndexStore.list(imageKeys(image.backupId).prefix)).sort()).toEqual([copyOf(image, 1)!.indexKey, copyOf(image, 1)!.manifestKey].sort());
    await expectReleased();
    const stored = (await runtime.catalog.getImage(image.backupId))!;
    const copy = copyOf(stored, 2)!;
    expect(copy.fragments.map((f) => [f.number, f.bytes, f.sha256])).toEqual(copyOf(image, 1)!.fragments.map((f) => [f.number, f.bytes, f.sha256]));
    expect(copy.fragments.every((f) => f.location.kind === 'tape' && f.location.mediaId === 'CRN001L6')).toBe(true);
    // The volume counts the copy: its append point is past the copy's last tape file (the label is file 0).
    const volume = (await runtime.emm.getMedia('CRN001L6'))!;
    expect(volume).toMatchObject({ pool: 'daily', state: 'ACTIVE', images: [image.backupId], tapeFiles: copy.fragments.length + 1 });

    // A second duplicate to the same unit is refused: it holds a copy already.
    await expect(duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'tape1' })).rejects.toMatchObject({ statusCode: 20 });

    // With the disk copy gone, the tape copy is the primary: the tape restore job and verify job read it as they read a tape backup.
    await dropDiskCopy(image.backupId);
    await restoreAndCompare(runtime, (await runtime.catalog.getImage(image.backupId))!, source, join(work, 'restored'));
    const verified = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(verified.statusCode).toBe(0);
    await expectReleased();
  });

  it('spans a copy across volumes (each full volume marked FULL); it restores byte for byte from both', async () => {
    // Volumes of 8 MiB, fragments of 1 MiB: the early-warning zone holds a fragment, so about 4 fit on each volume.
    const source = await setUp({ capacityBytes: 8 * 1024 * 1024 });
    mkdirSync(source, { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(source, `f${i}.bin`), randomBytes(1024 * 1024 + i));
    // A file in pieces of 1 MiB over several fragments (and so, likely, volumes): the read-back hashes it whole.
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1'), fragmentSizeBytes: 1024 * 1024, pieceBytes: 1024 * 1024 }));
    writeFileSync(join(source, 'big.bin'), randomBytes(5 * 1024 * 1024));
    const image = await backupToDisk(source);
    expect(copyOf(image, 1)!.fragments.length).toBeGreaterThan(5);

    const result = await duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'tape1' });
    expect(result.volumes!.length).toBeGreaterThanOrEqual(2);
    await expectReleased();
    const stored = (await runtime.catalog.getImage(image.backupId))!;
    expect(volumesOf(stored, 2)).toEqual(result.volumes);
    expect((await runtime.emm.getMedia(result.volumes![0]!))!.state).toBe('FULL');

    await dropDiskCopy(image.backupId);
    await restoreAndCompare(runtime, (await runtime.catalog.getImage(image.backupId))!, source, join(work, 'restored'));
    await expectReleased();
  });

  it('catches a byte written wrong in its read-back: nothing catalogued, the volume not counted, the drive released; the next run writes over it', async () => {
    const source = await setUp();
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    writeFileSync(join(source, 'marker.bin'), MARKER);
    const image = await backupToDisk(source);

    const bad = duplicateImage(localDuplicateDeps(runtime, { tapeDevices: corruptingDevices() }), { backupId: image.backupId, to: 'tape1' });
    await expect(bad).rejects.toMatchObject({ statusCode: 2001 });
    await expect(bad).rejects.toThrow(/does not verify: .*marker\.bin/);
    expect((await runtime.catalog.getImage(image.backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);
    // Labelled (the label is file 0), but nothing of the failed copy counted.
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ tapeFiles: 0, images: [], bytesWritten: 0 });
    await expectReleased();

    const good = await duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'tape1' });
    expect(good).toMatchObject({ copyNumber: 2, volumes: ['CRN001L6'] });
    await expectReleased();

    // A byte flipped on the tape afterwards is what a verify job of the copy finds.
    await dropDiskCopy(image.backupId);
    const file = join(library.base, 'slot1');
    const bytes = readFileSync(file);
    const at = bytes.indexOf(MARKER);
    bytes[at + 5000] = bytes[at + 5000]! ^ 0x01;
    writeFileSync(file, bytes);
    const verified = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(verified.statusCode).toBe(2001);
    expect(verified.error).toContain('marker.bin');
    await expectReleased();
  });

  it('copies a tape image spanning two volumes (a file pieced across them) to disk, reading volume by volume in one reserved drive; the disk copy restores byte for byte', async () => {
    const source = await setUp({ capacityBytes: 8 * 1024 * 1024 });
    const unit = (await runtime.config.getStorageUnit('tape1'))!;
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...unit, pieceBytes: 1024 * 1024, fragmentSizeBytes: 1024 * 1024 }));
    await runtime.config.putSetting('buffers', { count: 8, sizeBytes: 64 * 1024 });
    mkdirSync(join(source, 'small'), { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(join(source, 'small', `f${i}`), randomBytes(50 * 1024 + i));
    writeFileSync(join(source, 'big.bin'), randomBytes(10 * 1024 * 1024));
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode).toBe(0);
    const image = (await runtime.catalog.getImage(run.backupId!))!;
    expect(volumesOf(image, 1).length).toBeGreaterThanOrEqual(2);

    const result = await duplicateImage(localDuplicateDeps(runtime), { backupId: image.backupId, to: 'disk1' });
    expect(result).toMatchObject({ copyNumber: 2, storageUnit: 'disk1', fromCopy: 1 });
    await expectReleased();
    const stored = (await runtime.catalog.getImage(image.backupId))!;
    expect(copyOf(stored, 2)!.fragments.every((f) => f.location.kind === 'object')).toBe(true);

    // The disk copy alone: the tape copy gone from the record, the restore reads disk1.
    const onDisk = (await runtime.catalog.updateImage(image.backupId, (i) => ({ ...i, copies: i.copies.filter((c) => c.copyNumber !== 1) })))!;
    const target = join(work, 'restored');
    const restored = await restoreFromCopies({ image: onDisk, targetDir: target }, (copy) => openStorageUnit(StorageUnit.parse({ name: copy.storageUnit, kind: 'disk', path: join(work, 'disk1') })));
    expect(restored.fallbacks).toEqual([]);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
  });

  it("makes a policy's copy to a tape unit from the standalone tick", async () => {
    const source = await setUp();
    makeSampleTree(source, { largeBytes: 512 * 1024 });
    const image = await backupToDisk(source);
    await runtime.config.putPolicy(samplePolicy(image.policy, { storageUnit: 'disk1', copies: [{ storageUnit: 'tape1', within: 6 * 3600, retention: { days: 30 } }] }));

    const ticked = await runDueDuplicates(runtime);
    expect(ticked.problems).toEqual([]);
    expect(ticked.done).toMatchObject([{ backupId: image.backupId, storageUnit: 'tape1', copyNumber: 2 }]);
    await expectReleased();
    // The duplicate job names the drive the copy was written in, as a tape backup does.
    const job = (await runtime.jobs.list({ limit: 100 })).find((j) => j.type === 'duplicate');
    expect(job).toMatchObject({ state: 'DONE', statusCode: 0, drives: ['d0'] });
    // Its throughput over time, for the job page's chart: from 0 to what it copied.
    expect(job!.progress.samples?.[0]?.[1]).toBe(0);
    expect(job!.progress.samples?.at(-1)?.[1]).toBe(job!.progress.bytes);
    // Nothing more is due.
    expect((await runDueDuplicates(runtime)).done).toEqual([]);
  });
});
