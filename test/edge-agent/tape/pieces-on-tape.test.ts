import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import type { Fragment, Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { backupTask, catalogImage, patterned, recordingReporter, snapshotTree } from '../helpers.ts';
import { KiB, Shelf, gnuTarList, hasGnuTar, readVolumeBytes } from './tape-shelf.ts';

const MiB = 1024 * KiB;
/**
 * 3 MiB volumes of 16 KiB records. The zone past early warning (1.75 MiB)
 * holds what the writer may still send once the sink reports it: the rest
 * of a 1 MiB piece, the bytes in flight between packer and drive (buffer
 * pool, sink buffers), the end-of-archive blocks and a filemark.
 */
const SHAPE = { blockSize: 16 * KiB, capacityBytes: 3 * MiB, earlyWarningBytes: 1792 * KiB };
const PIECE_BYTES = 1 * MiB;

describe('a file bigger than three tape volumes, written as pieces', () => {
  let root: string;
  let source: string;
  const big = 10 * MiB + 12_345;
  const shelves: Shelf[] = [];
  beforeAll(() => {
    mkdirSync('/tmp/pieces', { recursive: true });
    root = mkdtempSync('/tmp/pieces/tape-');
    source = path.join(root, 'src');
    mkdirSync(path.join(source, 'a'), { recursive: true });
    mkdirSync(path.join(source, 'z'), { recursive: true });
    writeFileSync(path.join(source, 'a', 'before.txt'), patterned(40 * KiB, 1));
    writeFileSync(path.join(source, 'big.bin'), patterned(big, 2));
    for (let i = 0; i < 5; i++) writeFileSync(path.join(source, 'z', `after-${i}.txt`), patterned(30 * KiB + i, 3 + i));
  });
  afterEach(async () => {
    for (const shelf of shelves.splice(0)) await shelf.close();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const backup = async (limit?: number): Promise<{ shelf: Shelf; unit: string; image: Image; lines: IndexEntry[] }> => {
    const shelf = new Shelf(mkdtempSync(path.join(root, 'shelf-')), SHAPE, limit === undefined ? {} : { limit });
    shelves.push(shelf);
    const unit = mkdtempSync(path.join(root, 'unit-'));
    const task = backupTask(unit, [source], { buffers: { count: 4, sizeBytes: 64 * KiB }, storageUnit: { name: 'tape1', kind: 'disk', path: unit, fragmentSizeBytes: 64 * MiB, pieceBytes: PIECE_BYTES } });
    const result = await runBackup(task, { store: new FsObjectStore(unit), sinks: shelf.sinks(), reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const lines: IndexEntry[] = [];
    for await (const line of readIndex(new FsObjectStore(unit), image.copies[0]!.indexKey, image.copies[0]!.indexSha256)) lines.push(line);
    return { shelf, unit, image, lines };
  };
  const fragmentBytes = (shelf: Shelf, fragment: Fragment): Buffer => {
    const location = fragment.location;
    if (location.kind !== 'tape') throw new Error('not on tape');
    const volume = shelf.volumes.find((v) => v.mediaId === location.mediaId)!;
    return readVolumeBytes(volume.file, volume.drive.byteOffsetOf(location.fileNumber), fragment.bytes);
  };

  it('spans four volumes and more, lists the file once with its pieces, and restores byte for byte', async () => {
    // Act
    const { shelf, unit, image, lines } = await backup();

    // Assess: one line for the file, one `pieces` entry per fragment holding pieces of it, in order.
    const fragments = image.copies[0]!.fragments;
    expect(shelf.volumes.length).toBeGreaterThanOrEqual(4);
    expect(fragments.length).toBe(shelf.volumes.length);
    const line = lines.find((l) => l.path === path.join(source, 'big.bin'))!;
    expect(lines.filter((l) => l.path.includes('GNUFileParts'))).toEqual([]);
    expect(line.size).toBe(big);
    expect(line.pieces!.length).toBeGreaterThanOrEqual(4);
    expect(line.pieces![0]).toEqual({ fragment: line.fragment, offset: line.offset, fileOffset: 0 });
    expect(line.pieces!.map((p) => p.fragment)).toEqual([...new Set(line.pieces!.map((p) => p.fragment))].sort((a, b) => a - b));
    for (const run of line.pieces!) expect(run.fileOffset % PIECE_BYTES).toBe(0);

    const target = path.join(root, 'restored-all');
    const restored = await restoreImage({ store: new FsObjectStore(unit), image, targetDir: target, fragmentSource: shelf.source() });
    expect(restored.failures).toEqual([]);
    expect(restored.verified).toBe(7);
    const before = snapshotTree(source);
    const after = snapshotTree(path.join(target, source));
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [relative, node] of before) expect(node.content === undefined || after.get(relative)?.content?.equals(node.content), relative).toBe(true);
  });

  it.skipIf(!hasGnuTar)(`every fragment is listed and extracted by GNU tar from its volume, and cat of the parts is the file${hasGnuTar ? '' : ' (skipped: GNU tar is not installed)'}`, async () => {
    // Prepare
    const { shelf, image } = await backup();
    const out = mkdtempSync(path.join(root, 'gnu-'));
    const partsDir = path.join(out, source.replace(/^\//, ''), 'GNUFileParts');

    // Act: list and extract each fragment's bytes, read from the volume file at its recorded location.
    const listed: string[] = [];
    for (const fragment of image.copies[0]!.fragments) {
      const bytes = fragmentBytes(shelf, fragment);
      listed.push(...gnuTarList(bytes));
      const verbose = spawnSync('tar', ['-tvf', '-'], { input: bytes });
      expect(verbose.status, verbose.stderr.toString()).toBe(0);
      expect(verbose.stderr.toString()).toBe('');
      const run = spawnSync('tar', ['-xf', '-', '-C', out], { input: bytes });
      expect(run.status, run.stderr.toString()).toBe(0);
      // No warning about the GNU.volume.* keywords, or anything else.
      expect(run.stderr.toString()).toBe('');
    }

    // Assess
    const base = source.replace(/^\//, '');
    const parts = listed.filter((n) => n.startsWith(`${base}/GNUFileParts/`));
    expect(parts).toEqual(Array.from({ length: Math.ceil(big / PIECE_BYTES) }, (_, i) => `${base}/GNUFileParts/big.bin.${i + 1}`));
    expect(listed).toContain(`${base}/a/before.txt`);
    expect(listed).toContain(`${base}/z/after-4.txt`);
    expect(listed).not.toContain(`${base}/big.bin`);
    const joined = execFileSync('sh', ['-c', 'cat $(ls -v big.bin.*)'], { cwd: partsDir, maxBuffer: 64 * MiB });
    expect(joined.equals(patterned(big, 2))).toBe(true);
    expect(readdirSync(partsDir)).toHaveLength(parts.length);
    expect(readFileSync(path.join(out, base, 'z', 'after-4.txt')).equals(patterned(30 * KiB + 4, 7))).toBe(true);
  });

  it('restores just the pieced file, mounting each volume that holds pieces of it', async () => {
    // Prepare
    const { shelf, unit, image } = await backup();

    // Act
    const target = path.join(root, 'restored-one');
    const restored = await restoreImage({ store: new FsObjectStore(unit), image, targetDir: target, fragmentSource: shelf.source(), paths: [path.join(source, 'big.bin')] });

    // Assess
    expect(restored.failures).toEqual([]);
    expect(restored.verified).toBe(1);
    expect(readFileSync(path.join(target, source, 'big.bin')).equals(patterned(big, 2))).toBe(true);
    expect(snapshotTree(path.join(target, source)).has('a/before.txt')).toBe(false);
  });

  it('fails with 96 when the volumes run out in the middle of the file, after filling each past its early-warning mark', async () => {
    // Act
    const failure = await backup(3).catch((error: unknown) => error);

    // Assess
    expect((failure as CairnError).statusCode).toBe(StatusCode.UNABLE_TO_ALLOCATE_MEDIA);
    const volumes = shelves.at(-1)!.volumes;
    expect(volumes).toHaveLength(3);
    for (const volume of volumes) expect((await volume.drive.status()).earlyWarning).toBe(true);
  });
});
