import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runRestoreJob } from '#local/restore-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { BackupTask } from '#core/model/task.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { BackupJob } from '#core/model/job.ts';
import type { Image } from '#core/model/image.ts';
import { commitImage } from '#core/catalog/catalog-service.ts';
import { runBackup } from '#agent/image/backup.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { trustedIndex } from '#agent/restore/image-trust.ts';
import { writeLabel } from '#agent/tape/format/volume-label.ts';
import { TapeFragmentSink } from '#agent/tape/format/tape-fragment-sink.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { realTapeDevices } from '#agent/tape/mount.ts';
import { StatusCode } from '#core/status-codes.ts';
import { patterned } from '../edge-agent/helpers.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();
const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 64 * KiB;
const AT = new Date('2026-12-03T04:00:00.000Z');
const MEDIA = ['CRN001L6', 'CRN002L6', 'CRN003L6', 'CRN004L6'];
/** 4 MiB volumes with early warning at 2 MiB: a 7 MiB file in 1 MiB pieces runs over three of them. */
const VOLUME = { blockSize: BLOCK, capacityBytes: 4 * MiB, earlyWarningBytes: 2 * MiB };
const BIG = 7 * MiB + 12_345;

/** Every file under `dir` (names relative to it), to find anything a restore left besides what it restored. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`]));
}

/**
 * A file stored as pieces on three volumes and more, restored by the
 * restore job (one Read per volume): the Reads carry the file's partial
 * file from one to the next (edge-agent/restore/partial-file.ts). The
 * image is written by the backup writer with the library's volumes as its
 * fragment sinks, as in tape-restore-job.test.ts, with a 1 MiB pieceBytes.
 */
describe.skipIf(Boolean(skip))(`a restore job of a file in pieces on three volumes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;
  let source: string;

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  async function setUp(): Promise<void> {
    library = diskChangerLibrary({ slots: 5, drives: 2, barcodes: Object.fromEntries(MEDIA.map((m, i) => [i + 1, m])) });
    work = library.base;
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 256 * MiB }, AT);
    for (const [index, path] of library.drives.entries()) await emm.addDrive({ name: `d${index}`, robot: 'lib1', index, path, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    for (const [i, mediaId] of MEDIA.entries()) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: i + 1 }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(work, 'index') }, mediaUnmountDelaySeconds: 0, fragmentSizeBytes: 64 * MiB, pieceBytes: MiB }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    source = join(work, 'source');
    mkdirSync(join(source, 'a'), { recursive: true });
    mkdirSync(join(source, 'z'), { recursive: true });
    writeFileSync(join(source, 'a', 'before.txt'), patterned(40 * KiB, 1));
    writeFileSync(join(source, 'big.bin'), patterned(BIG, 2));
    for (let i = 0; i < 3; i++) writeFileSync(join(source, 'z', `after-${i}.txt`), patterned(30 * KiB + i, 3 + i));
  }

  /** The backup writer onto CRN001L6, then each next volume as the one before reaches early warning; committed by the Catalog step's code. */
  async function writeImage(): Promise<{ image: Image; line: IndexEntry }> {
    const unit = (await runtime.config.getStorageUnit('tape1'))!;
    const jobId = await runtime.jobs.nextJobId();
    const backupId = `host1_${Math.floor(AT.getTime() / 1000)}`;
    const at = AT.toISOString();
    const job: BackupJob = {
      jobId, type: 'backup', state: 'ACTIVE', attempt: 1, client: 'host1', policy: 'manual', schedule: 'user', level: 'full', storageUnit: 'tape1',
      selections: [source], exclude: [], retentionDays: 7, backupId, unreadable: [], attempts: [],
      progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, queuedAt: at, startedAt: at, updatedAt: at,
    };
    await runtime.jobs.create(job);
    expect(await runtime.catalog.claimBackupId({ backupId, jobId, client: 'host1', storageUnit: 'tape1', claimedAt: at })).toBe(true);
    const volumes: FileTape[] = [];
    const sinkOn = async (index: number): Promise<TapeFragmentSink> => {
      const drive = await FileTape.open(join(library.base, `slot${index + 1}`), VOLUME);
      volumes.push(drive);
      await writeLabel(drive, { mediaId: MEDIA[index]!, pool: 'daily', writtenAt: at, writtenBy: 'cairn' });
      return TapeFragmentSink.mount({ drive, mediaId: MEDIA[index]!, appendFile: 1, writeBytes: BLOCK });
    };
    try {
      const task = BackupTask.parse({ jobId, backupId, client: 'host1', policy: 'manual', schedule: 'user', level: 'full', selections: [source], storageUnit: unit, buffers: { count: 4, sizeBytes: 64 * KiB } });
      const result = await runBackup(task, {
        store: await openStorageUnit(unit),
        reporter: { progress: async () => undefined, heartbeat: async () => undefined },
        now: () => AT,
        sinks: { first: () => sinkOn(0), next: () => sinkOn(volumes.length) },
      });
      await commitImage({ jobs: runtime.jobs, catalog: runtime.catalog, emm: runtime.emm }, jobId, result, AT);
    } finally {
      for (const drive of volumes) await drive.close();
    }
    const image = (await runtime.catalog.getImage(backupId))!;
    let line: IndexEntry | undefined;
    for await (const entry of trustedIndex(await openStorageUnit(unit), image, image.copies[0]!)) if (entry.path === join(source, 'big.bin')) line = entry;
    return { image, line: line! };
  }

  const restore = (request: { backupId: string; targetDir: string; paths?: string[] }) => runRestoreJob({ ...runtime, tapeDevices: realTapeDevices }, request);
  const volumeOf = (image: Image, fragment: number): string => {
    const location = image.copies[0]!.fragments.find((f) => f.number === fragment)!.location;
    return location.kind === 'tape' ? location.mediaId : '';
  };

  it('restores the whole image and the pieced file alone byte for byte, joining its pieces across the Reads of three volumes', async () => {
    await setUp();
    const { image, line } = await writeImage();
    const pieceVolumes = [...new Set(line.pieces!.map((p) => volumeOf(image, p.fragment)))];
    expect(pieceVolumes.length).toBeGreaterThanOrEqual(3);

    for (const [name, paths] of [['all', undefined], ['one', [join(source, 'big.bin')]]] as const) {
      const target = join(work, name);
      const run = await restore({ backupId: image.backupId, targetDir: target, ...(paths === undefined ? {} : { paths: [...paths] }) });
      expect(run.error).toBeUndefined();
      expect(run.statusCode).toBe(0);
      expect(run.job?.volumes.map((v) => [v.mediaId, v.read])).toEqual(pieceVolumes.map((m) => [m, true]).concat(name === 'all' ? run.job!.volumes.slice(pieceVolumes.length).map((v) => [v.mediaId, true]) : []));
      const restored = join(target, source);
      expect(readFileSync(join(restored, 'big.bin')).equals(patterned(BIG, 2))).toBe(true);
      expect(statSync(join(restored, 'big.bin')).mode & 0o7777).toBe(statSync(join(source, 'big.bin')).mode & 0o7777);
      expect(Math.floor(statSync(join(restored, 'big.bin')).mtimeMs)).toBe(Math.floor(statSync(join(source, 'big.bin')).mtimeMs));
      if (name === 'all') {
        expect(walk(restored).sort()).toEqual(walk(source).sort());
        for (const file of walk(source)) expect(readFileSync(join(restored, file)).equals(readFileSync(join(source, file))), file).toBe(true);
        expect(run.job?.progress.files).toBe(image.fileCount);
      } else {
        // Only the file, with no partial file left beside it.
        expect(walk(restored)).toEqual(['big.bin']);
      }
    }
    expect(await runtime.media.listReservations()).toEqual([]);
  });

  it('ends with 2001 naming the file when a piece on the second volume is tampered with, and leaves no partial file or file under its name', async () => {
    await setUp();
    const { image, line } = await writeImage();
    // A byte of the data of the first piece on the second volume that holds pieces.
    const second = line.pieces!.find((p) => volumeOf(image, p.fragment) !== volumeOf(image, line.fragment))!;
    const fragment = image.copies[0]!.fragments.find((f) => f.number === second.fragment)!;
    if (fragment.location.kind !== 'tape') throw new Error('not on tape');
    const index = MEDIA.indexOf(fragment.location.mediaId);
    const reopened = await FileTape.open(join(library.base, `slot${index + 1}`), VOLUME);
    const at = reopened.byteOffsetOf(fragment.location.fileNumber) + second.offset + 200 * KiB;
    await reopened.close();
    const fd = openSync(join(library.base, `slot${index + 1}`), 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);

    for (const name of ['all', 'one']) {
      const target = join(work, `tampered-${name}`);
      const run = await restore({ backupId: image.backupId, targetDir: target, ...(name === 'one' ? { paths: [join(source, 'big.bin')] } : {}) });
      expect(run.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(run.error).toContain(`${join(source, 'big.bin')}: not restored`);
      expect(run.error).toContain('fails its checksum');
      const left = existsSync(target) ? walk(target) : [];
      expect(left.filter((f) => f.includes('.cairn-') || f.endsWith('big.bin'))).toEqual([]);
    }
    expect(await runtime.media.listReservations()).toEqual([]);
  });
});
