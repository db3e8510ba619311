import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { asKind } from '#core/model/job.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const BLOCK = 64 * 1024;
const AT = new Date('2026-12-03T04:00:00.000Z');
const BARCODES = { 1: 'CRN001L6', 2: 'CRN002L6' };
/**
 * 8 MiB volumes, and pieces of the default 64 MiB: the early-warning zone is
 * half the volume (edge-agent/tape/early-warning.ts), the mark 4 MiB in. A
 * backup of one 4.5 MiB file is one member that crosses the mark, and then
 * the image ends: no member boundary past the mark (where the writer would
 * close the fragment and the rest would span), whatever the timing.
 */
const CAPACITY = 8 * 1024 * 1024;

/**
 * A backup that ends past its volume's early-warning mark (no next member
 * needed a new volume) leaves that volume FULL, as NetBackup's bptm does at
 * end of media: the next backup is given another volume and writes nothing
 * on the full one. The real backup-job.asl.json in process, SQLite, Debian's
 * disk-changer as the library, file tapes as its volumes.
 */
describe.skipIf(Boolean(skip))(`a tape backup that ends past early warning${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  function source(name: string, files: number, bytes: number): string {
    const dir = join(library.base, name);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(dir, `f${i}`), randomBytes(bytes + i));
    return dir;
  }

  async function setUp(mediaUnmountDelaySeconds = 180): Promise<void> {
    library = diskChangerLibrary({ slots: 4, drives: 1, barcodes: BARCODES });
    runtime = await openLocalRuntime({ home: join(library.base, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: CAPACITY }, AT);
    await emm.addDrive({ name: 'd0', robot: 'lib1', index: 0, path: library.drives[0]!, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    for (const [slot, mediaId] of Object.entries(BARCODES)) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(library.base, 'index') }, mediaUnmountDelaySeconds }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    await runtime.config.putSetting('buffers', { count: 8, sizeBytes: 64 * 1024 });
  }

  it('records the volume FULL with the image, and the next backup starts on another volume without writing to it', async () => {
    await setUp();
    const { emm } = runtime;
    // 4.5 MiB of incompressible data: past the mark (4 MiB), short of the volume's end.
    const first = await runBackupJob(runtime, { client: 'host1', selections: [source('first', 1, 4.5 * 1024 * 1024)], storageUnit: 'tape1' });
    expect(first.error).toBeUndefined();
    expect(first.statusCode).toBe(0);
    const image = (await runtime.catalog.getImage(first.backupId!))!;
    const fragments = image.copies[0]!.fragments;
    // It did not span: every fragment is on the first volume, and the job was given that volume only.
    expect(fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : 'not tape'))).toEqual(fragments.map(() => 'CRN001L6'));
    expect(asKind(await runtime.jobs.get(first.jobId!), 'backup')?.volumes).toEqual(['CRN001L6']);
    const full = (await emm.getMedia('CRN001L6'))!;
    expect(full).toMatchObject({ state: 'FULL', images: [first.backupId], tapeFiles: 1 + fragments.length });
    expect(full.bytesWritten).toBe(fragments.reduce((n, f) => n + f.bytes, 0));

    // The next backup: the full volume is not chosen; another is mounted in its place.
    const second = await runBackupJob(runtime, { client: 'host1', selections: [source('second', 4, 100 * 1024)], storageUnit: 'tape1' });
    expect(second.error).toBeUndefined();
    expect(second.statusCode).toBe(0);
    const next = (await runtime.catalog.getImage(second.backupId!))!;
    expect(next.copies[0]!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : 'not tape'))).toEqual(next.copies[0]!.fragments.map(() => 'CRN002L6'));
    expect(asKind(await runtime.jobs.get(second.jobId!), 'backup')?.volumes).toEqual(['CRN002L6']);
    // Nothing more on the full volume: its tape files and bytes are what the first backup left.
    expect(await emm.getMedia('CRN001L6')).toMatchObject({ state: 'FULL', images: [first.backupId], tapeFiles: full.tapeFiles, bytesWritten: full.bytesWritten });
    // A backup ending short of the mark leaves its volume ACTIVE.
    expect(await emm.getMedia('CRN002L6')).toMatchObject({ state: 'ACTIVE', images: [second.backupId] });
  });

  it('spans before writing anything on a volume still ACTIVE but past its mark at its append point (left by an older agent): it turns FULL, unchanged, and the backup goes on the next volume', async () => {
    // Unloaded after each job, so the volume choice never depends on when the first job's drive is free again.
    await setUp(0);
    const { emm } = runtime;
    const first = await runBackupJob(runtime, { client: 'host1', selections: [source('first', 1, 4.5 * 1024 * 1024)], storageUnit: 'tape1' });
    expect(first.statusCode).toBe(0);
    // As an agent without `fullVolume` in its result would have left it.
    const left = await emm.updateMedia('CRN001L6', (m) => ({ ...m, state: 'ACTIVE' }));

    const second = await runBackupJob(runtime, { client: 'host1', selections: [source('second', 4, 100 * 1024)], storageUnit: 'tape1' });
    expect(second.error).toBeUndefined();
    expect(second.statusCode).toBe(0);
    const next = (await runtime.catalog.getImage(second.backupId!))!;
    expect(next.copies[0]!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : 'not tape'))).toEqual(next.copies[0]!.fragments.map(() => 'CRN002L6'));
    // Mounted, found past the mark, reported full with nothing written; the broker gave the next volume.
    expect(asKind(await runtime.jobs.get(second.jobId!), 'backup')?.volumes).toEqual(['CRN001L6', 'CRN002L6']);
    expect(await emm.getMedia('CRN001L6')).toMatchObject({ state: 'FULL', images: [first.backupId], tapeFiles: left.tapeFiles, bytesWritten: left.bytesWritten });
    expect(await emm.getMedia('CRN002L6')).toMatchObject({ state: 'ACTIVE', images: [second.backupId] });
  });
});
