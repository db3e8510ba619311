import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { FaultyTapeDrive } from '#agent/tape/drives/faulty-tape-drive.ts';
import { fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import { TapeFragmentSink } from '#agent/tape/format/tape-fragment-sink.ts';
import { tapeFragmentSource } from '#agent/tape/format/tape-fragment-source.ts';
import { CairnError } from '#core/errors.ts';
import type { Fragment, Image } from '#core/model/image.ts';
import type { FragmentSinks } from '#core/ports/fragment-sink.ts';
import { TapeError, type TapeDrive, type TapeRead } from '#core/ports/tape-drive.ts';
import { StatusCode } from '#core/status-codes.ts';
import { backupTask, catalogImage, patterned, recordingReporter, snapshotTree, tempDir } from '../helpers.ts';
import { KiB, Shelf, gnuTarList, hasGnuTar, readVolumeBytes, type ShelfVolume } from './tape-shelf.ts';

/** 16 KiB records; 1 MiB volumes whose early-warning mark is 256 KiB before the end. */
const SHAPE = { blockSize: 16 * KiB, capacityBytes: 1024 * KiB, earlyWarningBytes: 256 * KiB };

/** A drive as the restore uses it, counting what it reads and where it seeks: the positioned read is observable. */
class CountingDrive implements TapeDrive {
  readonly seeks: number[] = [];
  records = 0;
  constructor(readonly inner: TapeDrive) {}
  get path(): string {
    return this.inner.path;
  }
  get blockSize(): number {
    return this.inner.blockSize;
  }
  status = () => this.inner.status();
  rewind = () => this.inner.rewind();
  forwardFiles = (count: number) => this.inner.forwardFiles(count);
  backwardFiles = (count: number) => this.inner.backwardFiles(count);
  seekEndOfData = () => this.inner.seekEndOfData();
  seekBlock = (block: number) => {
    this.seeks.push(block);
    return this.inner.seekBlock(block);
  };
  writeRecords = (data: Uint8Array) => this.inner.writeRecords(data);
  writeFilemarks = (count?: number) => this.inner.writeFilemarks(count);
  readRecord = async (buffer: Uint8Array): Promise<TapeRead> => {
    const read = await this.inner.readRecord(buffer);
    if (read.kind === 'record') this.records += 1;
    return read;
  };
  eject = () => this.inner.eject();
  close = () => this.inner.close();
}

describe('backups on file-tape volumes: one tape file per fragment', () => {
  let source: ReturnType<typeof tempDir>;
  const scratch: ReturnType<typeof tempDir>[] = [];
  const shelves: Shelf[] = [];
  const files: string[] = [];
  beforeAll(() => {
    // About 2.4 MiB of tar: 60 files of 40 KiB and more, in 5 directories.
    source = tempDir('tape-src');
    for (let i = 0; i < 60; i++) {
      const dir = path.join(source.dir, `d${i % 5}`);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `f${String(i).padStart(2, '0')}.bin`);
      writeFileSync(file, patterned(40 * KiB + i * 131, i + 1));
      files.push(file);
    }
  });
  afterEach(async () => {
    for (const shelf of shelves.splice(0)) await shelf.close();
  });
  afterAll(() => {
    source.cleanup();
    for (const dir of scratch) dir.cleanup();
  });
  const dir = (label: string): string => {
    const made = tempDir(label);
    scratch.push(made);
    return made.dir;
  };
  const shelf = (options: { limit?: number } = {}): Shelf => {
    const made = new Shelf(dir('tape-shelf'), SHAPE, options);
    shelves.push(made);
    return made;
  };
  const backup = async (volumes: Shelf, unit: string, options: { backupId?: string; first?: ShelfVolume; sinks?: FragmentSinks; compress?: boolean } = {}): Promise<Image> => {
    const compression = options.compress ? { storageUnit: { name: 'tape1', kind: 'disk' as const, path: unit, fragmentSizeBytes: 1024 * KiB, compression: { codec: 'zstd' as const, level: 1 } } } : {};
    const task = backupTask(unit, [source.dir], { backupId: options.backupId ?? 'host1_1700000000', buffers: { count: 4, sizeBytes: 16 * KiB }, ...compression });
    const result = await runBackup(task, { store: new FsObjectStore(unit), sinks: options.sinks ?? volumes.sinks(options.first), reporter: recordingReporter(), now: () => new Date() });
    return catalogImage(task, result);
  };
  const expectRestored = async (volumes: Shelf, unit: string, image: Image): Promise<void> => {
    const target = path.join(dir('tape-dst'), 'target');
    const restored = await restoreImage({ store: new FsObjectStore(unit), image, targetDir: target, fragmentSource: volumes.source() });
    expect(restored.failures).toEqual([]);
    expect(restored.verified).toBe(files.length);
    const before = snapshotTree(source.dir);
    const after = snapshotTree(path.join(target, source.dir));
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [relative, node] of before) expect(node.content === undefined || after.get(relative)?.content?.equals(node.content), relative).toBe(true);
  };
  const fragmentsOf = (image: Image): Fragment[] => image.copies[0]!.fragments;

  it('spans three volumes and more at early warning, one tape file per fragment after the label, and restores byte for byte', async () => {
    // Prepare
    const volumes = shelf();
    const unit = dir('tape-unit');

    // Act
    const image = await backup(volumes, unit);

    // Assess: fragment n+1 starts the next volume at file 1, right after the label (file 0 is one record, then its filemark).
    const fragments = fragmentsOf(image);
    expect(volumes.volumes.length).toBeGreaterThanOrEqual(3);
    expect(fragments.map((f) => f.location)).toEqual(volumes.volumes.map((v) => ({ kind: 'tape', mediaId: v.mediaId, fileNumber: 1, blockOffset: 2 })));
    for (const volume of volumes.volumes) expect(volume.appendFile).toBe(2);
    // Each volume but the last was past its early-warning mark when its fragment closed, and no write reached its end.
    for (const volume of volumes.volumes.slice(0, -1)) expect((await volume.drive.status()).earlyWarning).toBe(true);
    await expectRestored(volumes, unit, image);
  });

  it.skipIf(!hasGnuTar)(`every fragment is a tar archive GNU tar lists, read straight from the volume file at its recorded block${hasGnuTar ? '' : ' (skipped: GNU tar is not installed)'}`, async () => {
    // Prepare
    const volumes = shelf();
    const image = await backup(volumes, dir('tape-unit'));

    // Act: the bytes of each fragment's tape file, from the volume file, at the offset its location gives.
    const listed: string[] = [];
    for (const fragment of fragmentsOf(image)) {
      const location = fragment.location;
      if (location.kind !== 'tape') throw new Error('not on tape');
      const volume = volumes.volumes.find((v) => v.mediaId === location.mediaId)!;
      // Where the catalog's location says: the file tape's records start at 1 MiB, and each filemark before is one logical block.
      const offset = fileTapeByteOffset({ fileNumber: location.fileNumber, block: location.blockOffset, blockSize: SHAPE.blockSize });
      expect(offset).toBe(volume.drive.byteOffsetOf(location.fileNumber));
      const records = Math.ceil(fragment.bytes / SHAPE.blockSize) * SHAPE.blockSize;
      listed.push(...gnuTarList(readVolumeBytes(volume.file, offset, records)));
    }
    // And the label, file 0 of the first volume.
    const first = volumes.volumes[0]!;
    const label = gnuTarList(readVolumeBytes(first.file, first.drive.byteOffsetOf(0), SHAPE.blockSize));

    // Assess: every file of the backup is in exactly one fragment.
    const names = files.map((f) => f.replace(/^\/+/, ''));
    expect(listed.filter((n) => !n.endsWith('/')).sort()).toEqual(names.sort());
    expect(label).toEqual(['CAIRN.LABEL']);
  });

  it('restores a single file by seeking to its fragment and reading only the records that hold its member', async () => {
    // Prepare
    const volumes = shelf();
    const unit = dir('tape-unit');
    const image = await backup(volumes, unit);
    const counting = new Map<TapeDrive, CountingDrive>();
    const source = volumes.source((drive) => counting.get(drive) ?? counting.set(drive, new CountingDrive(drive)).get(drive)!);
    const wanted = files[37]!;

    // Act
    const target = path.join(dir('tape-dst'), 'target');
    const restored = await restoreImage({ store: new FsObjectStore(unit), image, targetDir: target, fragmentSource: source, paths: [wanted] });

    // Assess: one volume mounted; its label read (one record), then one seek and the member's 3 or 4 records (40 KiB and a header).
    expect(restored.verified).toBe(1);
    expect(counting.size).toBe(1);
    const [drive] = [...counting.values()];
    expect(drive!.seeks).toHaveLength(1);
    expect(drive!.records).toBeLessThanOrEqual(1 + 4);
    expect(snapshotTree(path.join(target, path.dirname(wanted))).get(path.basename(wanted))?.content?.equals(patterned(40 * KiB + 37 * 131, 38))).toBe(true);
  });

  it('appends a second backup after the first on the same volume, and both restore', async () => {
    // Prepare: room for both on the first volume.
    const volumes = new Shelf(dir('tape-shelf'), { ...SHAPE, capacityBytes: 16 * 1024 * KiB, earlyWarningBytes: 1024 * KiB });
    shelves.push(volumes);
    const unit = dir('tape-unit');
    const first = await backup(volumes, unit);
    const volume = volumes.volumes[0]!;
    const appendFile = volume.appendFile;

    // Act
    const second = await backup(volumes, unit, { backupId: 'host1_1700000100', first: volume });

    // Assess
    expect(volumes.volumes).toHaveLength(1);
    expect(fragmentsOf(second).map((f) => f.location.kind === 'tape' && f.location.fileNumber)).toEqual(fragmentsOf(second).map((_, i) => appendFile + i));
    await expectRestored(volumes, unit, first);
    await expectRestored(volumes, unit, second);
  });

  it('overwrites a torn tape file at end of data from the recorded append point; every earlier file still restores', async () => {
    // Prepare: a first backup, then a writer killed mid-fragment: records at the append point, no filemark.
    const volumes = new Shelf(dir('tape-shelf'), { ...SHAPE, capacityBytes: 16 * 1024 * KiB, earlyWarningBytes: 1024 * KiB });
    shelves.push(volumes);
    const unit = dir('tape-unit');
    const first = await backup(volumes, unit);
    const volume = volumes.volumes[0]!;
    const appendFile = volume.appendFile;
    await volume.drive.seekEndOfData();
    await volume.drive.writeRecords(new Uint8Array(5 * SHAPE.blockSize).fill(0x55));
    // The process dies: the drive is closed without a filemark, and the next job loads the volume afresh.
    await volume.drive.close();
    volume.drive = await volumes.open(volume.file);
    await volume.drive.seekEndOfData();
    const torn = await volume.drive.status();

    // Act
    const second = await backup(volumes, unit, { backupId: 'host1_1700000100', first: volume });

    // Assess: the second backup took the torn file's place, and the volume ends after it.
    expect(torn).toMatchObject({ fileNumber: appendFile, blockInFile: 5 });
    const location = fragmentsOf(second)[0]!.location;
    // Where the torn file began, not after it: a fragment glued to the torn records would not start where its tape file does.
    expect(location).toMatchObject({ fileNumber: appendFile, blockOffset: torn.block! - 5 });
    await volume.drive.seekEndOfData();
    expect((await volume.drive.status()).fileNumber).toBe(appendFile + fragmentsOf(second).length);
    await expectRestored(volumes, unit, first);
    await expectRestored(volumes, unit, second);
  });

  it('refuses to write with 84 when the volume has fewer complete files than its append point says', async () => {
    // Prepare: a volume with a backup on it, whose media database says the next file is 3 further than the volume's end.
    const volumes = new Shelf(dir('tape-shelf'), { ...SHAPE, capacityBytes: 16 * 1024 * KiB, earlyWarningBytes: 1024 * KiB });
    shelves.push(volumes);
    await backup(volumes, dir('tape-unit'));
    const volume = volumes.volumes[0]!;
    const complete = volume.appendFile;
    const appendFile = complete + 3;
    const sink = new TapeFragmentSink({ drive: volume.drive, mediaId: volume.mediaId, appendFile });

    // Act: as the Mount step would (positioning first), and as a write would.
    const mountFailure = await sink.position().catch((error: unknown) => error);
    const failure = await sink.write(1, (async function* () {
      yield new Uint8Array(1024);
    })()).catch((error: unknown) => error);

    // Assess: nothing written; the files the catalog points at are intact.
    expect(failure).toBeInstanceOf(CairnError);
    expect((mountFailure as CairnError).message).toBe((failure as CairnError).message);
    expect((failure as CairnError).statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    expect((failure as CairnError).message).toBe(`volume ${volume.mediaId} in ${volume.file} has fewer than ${appendFile} complete tape files (label included), but the media database's append point is file ${appendFile}: files the catalog may point at are missing; not writing`);
    await volume.drive.seekEndOfData();
    expect(await volume.drive.status()).toMatchObject({ fileNumber: complete, blockInFile: 0 });
  });

  it('fails the backup with 96 when the volumes run out, after filling each past its early-warning mark', async () => {
    // Prepare
    const volumes = shelf({ limit: 2 });

    // Act
    const failure = await backup(volumes, dir('tape-unit')).catch((error: unknown) => error);

    // Assess
    expect((failure as CairnError).statusCode).toBe(StatusCode.UNABLE_TO_ALLOCATE_MEDIA);
    expect(volumes.volumes.map((v) => v.appendFile)).toEqual([2, 2]);
  });

  it('fails the backup with the drive error (84) when a write fails mid-fragment; the append point stays, and the next backup writes over the failed file', async () => {
    // Prepare: a first backup; then a drive that fails on the 20th record of the next one.
    const volumes = new Shelf(dir('tape-shelf'), { ...SHAPE, capacityBytes: 16 * 1024 * KiB, earlyWarningBytes: 1024 * KiB });
    shelves.push(volumes);
    const unit = dir('tape-unit');
    const first = await backup(volumes, unit);
    const volume = volumes.volumes[0]!;
    const appendFile = volume.appendFile;
    // The first backup's last filemark left the tape at the append point.
    const appendBlock = (await volume.drive.status()).block;
    const faulty = new TapeFragmentSink({ drive: new FaultyTapeDrive(volume.drive, { writeErrorAtRecord: 20 }), mediaId: volume.mediaId, appendFile, writeBytes: volumes.writeBytes });
    const sinks: FragmentSinks = { first: async () => faulty, next: () => Promise.reject(new Error('one volume only')) };

    // Act
    const failure = await backup(volumes, unit, { backupId: 'host1_1700000100', sinks }).catch((error: unknown) => error);
    await volume.drive.seekEndOfData();
    const afterFailure = await volume.drive.status();
    const third = await backup(volumes, unit, { backupId: 'host1_1700000200', first: volume });

    // Assess: records were written before the fault, and the sink closed them with a filemark (as st would before the
    // tape moves); the append point stayed, so the next backup writes over that file.
    expect(failure).toBeInstanceOf(TapeError);
    expect(failure).toMatchObject({ fault: 'write-error', statusCode: StatusCode.MEDIA_WRITE_ERROR });
    expect(faulty.appendFile).toBe(appendFile);
    expect(afterFailure).toMatchObject({ fileNumber: appendFile + 1, blockInFile: 0 });
    expect(fragmentsOf(third)[0]!.location).toMatchObject({ fileNumber: appendFile, blockOffset: appendBlock });
    await expectRestored(volumes, unit, first);
    await expectRestored(volumes, unit, third);
  });

  it('stores compressed fragments as tape files, and a single file of one reads the seek table and its frames only', async () => {
    // Prepare: one volume. (Spanning with compression is the compressing sinks' business: they pass end of media through,
    // a few batches of frames late, so a volume needs megabytes past its mark; test/edge-agent/fragment-sinks.test.ts.)
    const volumes = new Shelf(dir('tape-shelf'), { ...SHAPE, capacityBytes: 16 * 1024 * KiB, earlyWarningBytes: 1024 * KiB });
    shelves.push(volumes);
    const unit = dir('tape-unit');

    // Act
    const image = await backup(volumes, unit, { compress: true });
    const counting = new Map<TapeDrive, CountingDrive>();
    const single = volumes.source((drive) => counting.get(drive) ?? counting.set(drive, new CountingDrive(drive)).get(drive)!);
    const target = path.join(dir('tape-dst'), 'target');
    const one = await restoreImage({ store: new FsObjectStore(unit), image, targetDir: target, fragmentSource: single, paths: [files[50]!] });

    // Assess
    expect(fragmentsOf(image).length).toBeGreaterThanOrEqual(2);
    expect(fragmentsOf(image).every((f) => f.encoding?.codec === 'zstd-seekable')).toBe(true);
    await expectRestored(volumes, unit, image);
    expect(one.verified).toBe(1);
    const [drive] = [...counting.values()];
    // Two seeks (the seek table at the end of the fragment, then the frames holding the member); far fewer records than the fragment has.
    expect(drive!.seeks).toHaveLength(2);
    const fragment = fragmentsOf(image).find((f) => f.location.kind === 'tape' && drive!.path.endsWith(f.location.mediaId))!;
    expect(drive!.records).toBeLessThan(Math.ceil(fragment.bytes / SHAPE.blockSize) / 2);
  });

  it('refuses a tape file that is not the fragment the catalog describes (2001): shorter, or going on past its bytes', async () => {
    // Prepare: a fragment read with a catalog that gives it two records more, and one that gives it two records fewer.
    const volumes = shelf();
    const image = await backup(volumes, dir('tape-unit'));
    const fragment = fragmentsOf(image)[0]!;
    const read = async (bytes: number): Promise<void> => {
      const body = await volumes.source().read({ ...fragment, bytes });
      for await (const chunk of body) void chunk;
    };

    // Act
    const longer = await read(fragment.bytes + 2 * SHAPE.blockSize).catch((error: unknown) => error);
    const shorter = await read(fragment.bytes - 2 * SHAPE.blockSize).catch((error: unknown) => error);

    // Assess
    const records = Math.ceil(fragment.bytes / SHAPE.blockSize);
    expect(longer).toMatchObject({ statusCode: StatusCode.CORRUPT_IMAGE, message: `fragment 1 (media V00001, file 1, block 2): the tape file ends (a filemark) after ${records * SHAPE.blockSize} bytes; the catalog gives the fragment ${fragment.bytes + 2 * SHAPE.blockSize} bytes` });
    expect(shorter).toMatchObject({ statusCode: StatusCode.CORRUPT_IMAGE, message: `fragment 1 (media V00001, file 1, block 2): the tape file goes on past the fragment's ${fragment.bytes - 2 * SHAPE.blockSize} bytes` });
  });

  it('refuses to read a fragment from a drive holding another volume (93), checking the label once per volume mounted', async () => {
    // Prepare: an image over several volumes, and a "robot" that always hands out the first volume's drive.
    const volumes = shelf();
    const unit = dir('tape-unit');
    const image = await backup(volumes, unit);
    const first = volumes.volumes[0]!;
    const wrong = tapeFragmentSource({ mount: async () => first.drive });

    // Act
    const target = path.join(dir('tape-dst'), 'target');
    const failure = await restoreImage({ store: new FsObjectStore(unit), image, targetDir: target, fragmentSource: wrong }).catch((error: unknown) => error);

    // Assess
    expect(failure).toMatchObject({ statusCode: StatusCode.WRONG_TAPE_IN_DRIVE, problem: 'wrong-volume' });
    expect((failure as Error).message).toBe(`wrong tape in ${first.file}: expected volume V00002, found volume V00001 (pool daily, labelled 2026-12-03T04:00:00.000Z by cairn test)`);
  });

  it('mounts a volume for appending: the label checked (93 on the wrong one, nothing written) and the tape at the append point', async () => {
    // Prepare: two labelled volumes, one with a backup on it.
    const volumes = new Shelf(dir('tape-shelf'), { ...SHAPE, capacityBytes: 16 * 1024 * KiB, earlyWarningBytes: 1024 * KiB });
    shelves.push(volumes);
    await backup(volumes, dir('tape-unit'));
    const used = volumes.volumes[0]!;
    const other = await volumes.volume('V00009');

    // Act
    const wrong = await TapeFragmentSink.mount({ drive: other.drive, mediaId: used.mediaId, appendFile: used.appendFile }).catch((error: unknown) => error);
    const sink = await TapeFragmentSink.mount({ drive: used.drive, mediaId: used.mediaId, appendFile: used.appendFile });

    // Assess
    expect(wrong).toMatchObject({ statusCode: StatusCode.WRONG_TAPE_IN_DRIVE, message: `wrong tape in ${other.file}: expected volume V00001, found volume V00009 (pool daily, labelled 2026-12-03T04:00:00.000Z by cairn test)` });
    await other.drive.seekEndOfData();
    expect(await other.drive.status()).toMatchObject({ fileNumber: 1, blockInFile: 0 });
    expect(sink.appendFile).toBe(used.appendFile);
    expect(await used.drive.status()).toMatchObject({ fileNumber: used.appendFile, blockInFile: 0 });
  });
});
