import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, openSync, closeSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { pack as createPack } from 'tar-stream';
import { BLOCK_BYTES } from '#agent/image/block-map.ts';
import { sparseHeader } from '#agent/image/sparse-member.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { extractTarStream } from '#agent/restore/tar-extractor.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { CairnError, NotFoundError } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';
import { withFaults } from '#test/support/faults.ts';
import { copy1, indexLines, keyOf, objectBytes } from './forge.ts';
import { backupTask, catalogImage, patterned, recordingReporter, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
/**
 * The large-file threshold these backups run with (BackupDeps.largeFileBytes):
 * 1 MiB rather than LARGE_FILE_BYTES, so the chain's files are 2-5 MiB, not
 * 17-20 (the same block path at a sixteenth of the bytes: this file took 38 s
 * in CI at 16 MiB). Sizes just past it, so every file below is stored by blocks.
 */
const LARGE = MiB;
const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar');
  } catch {
    return false;
  }
})();

/** A sparse file of 24 MiB (past LARGE, and with holes, so large at any threshold): three 1 MiB extents of data, the rest holes. */
function writeSparseImage(file: string): void {
  writeFileSync(file, '');
  truncateSync(file, 24 * MiB);
  const fd = openSync(file, 'r+');
  try {
    for (const [n, at] of [2, 9, 20].entries()) writeSync(fd, patterned(MiB, 10 + n), 0, MiB, at * MiB);
  } finally {
    closeSync(fd);
  }
}

/** Rewrites `count` 64 KiB blocks of a file in place, chosen from `seed`, inside its data extents. */
function rewriteBlocks(file: string, seed: number, count: number): void {
  const fd = openSync(file, 'r+');
  try {
    for (let k = 0; k < count; k++) {
      const extent = [2, 9, 20][(seed + k) % 3]!;
      const block = (seed * 7 + k * 5) % 16;
      writeSync(fd, patterned(BLOCK_BYTES, 100 * seed + k), 0, BLOCK_BYTES, extent * MiB + block * BLOCK_BYTES);
    }
  } finally {
    closeSync(fd);
  }
}

async function* chunks(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

const scratch: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of scratch.splice(0)) dir.cleanup();
});
function track(label: string): string {
  const dir = tempDir(label);
  scratch.push(dir);
  return dir.dir;
}

interface Backed {
  image: Image;
  lines: IndexEntry[];
  /** Bytes of the image's fragments: what the backup stored. */
  stored: number;
}

/** Backs up `source` into `unit` as image `id` (an incremental when `base` is given). */
async function backUp(unit: string, source: string, id: string, base?: Image): Promise<Backed> {
  const store = new FsObjectStore(unit);
  const task = backupTask(unit, [source], {
    backupId: id,
    ...(base ? { level: 'differential-incremental', base: { backupId: base.backupId, indexKey: copy1(base).indexKey, indexSha256: copy1(base).indexSha256, storageUnit: { name: 'disk1', kind: 'disk', path: unit, fragmentSizeBytes: MiB } } } : {}),
  });
  const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date(), largeFileBytes: LARGE });
  const image = catalogImage(task, result);
  return { image, lines: await indexLines(store, image), stored: image.copies[0]!.fragments.reduce((sum, f) => sum + f.bytes, 0) };
}

describe('large files by blocks', () => {
  it.skipIf(!hasGnuTar)('stores the holes of a sparse file as holes: restore and GNU tar give the same bytes, still sparse', async () => {
    // Prepare
    const source = track('sparse-src');
    const unit = track('sparse-unit');
    const file = path.join(source, 'disk.img');
    writeSparseImage(file);
    writeFileSync(path.join(source, 'small.txt'), 'small\n');
    const original = readFileSync(file);

    // Act
    const full = await backUp(unit, source, 'host1_1700000000');
    const target = path.join(track('sparse-dst'), 'target');
    const result = await restoreImage({ store: new FsObjectStore(unit), image: full.image, targetDir: target });
    const gnu = track('sparse-gnu');
    execFileSync('tar', ['-xf', path.join(unit, keyOf(full.image.copies[0]!.fragments[0]!)), '-C', gnu]);

    // Assess: three 1 MiB extents stored, not 24 MiB; both extractors give the file back byte for byte, with its holes.
    expect(full.stored).toBeLessThan(4 * MiB);
    expect(full.lines.find((l) => l.path === file)?.blockMap).toBeDefined();
    expect(result.verified).toBe(2);
    for (const restored of [path.join(target, file), path.join(gnu, file)]) {
      expect(readFileSync(restored).equals(original)).toBe(true);
      expect(statSync(restored).blocks * 512).toBeLessThan(6 * MiB);
    }
  });

  it.skipIf(!hasGnuTar)('reads the sparse members GNU tar writes (tar --sparse --posix)', async () => {
    // Prepare
    const source = track('gnu-src');
    writeSparseImage(path.join(source, 'disk.img'));
    const archive = path.join(track('gnu-archive'), 'a.tar');
    execFileSync('tar', ['--sparse', '--posix', '-cf', archive, '-C', source, 'disk.img']);

    // Act
    const target = path.join(track('gnu-dst'), 'target');
    const result = await extractTarStream(chunks(readFileSync(archive)), { targetDir: target });

    // Assess
    expect(result.files).toBe(1);
    expect(readFileSync(path.join(target, 'disk.img')).equals(readFileSync(path.join(source, 'disk.img')))).toBe(true);
    expect(statSync(path.join(target, 'disk.img')).blocks * 512).toBeLessThan(6 * MiB);
  });

  it('refuses a sparse member whose map is malformed as a malformed archive (2001), and writes no file', async () => {
    // Prepare: a map that promises a segment past the real size.
    const map = Buffer.alloc(512);
    map.write('1\n4096\n8192\n');
    const spec = { path: '/data/x.img', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000_000_000_000n, size: 10_000 };
    const pack = createPack();
    pack.entry(sparseHeader(spec, [{ offset: 4096, length: 8192 }], 512), Buffer.concat([map, Buffer.alloc(8192, 1)]));
    pack.finalize();
    const target = path.join(track('sparse-bad'), 'target');

    // Act
    const failure = await extractTarStream(pack as AsyncIterable<Uint8Array>, { targetDir: target }).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect((failure as CairnError).message).toContain('ends past the real size 10000');
    expect(existsSync(path.join(target, 'data/x.img'))).toBe(false);
  });

  it('ends a backup with 84 when the block maps cannot be stored, and leaves nothing behind', async () => {
    // Prepare
    const source = track('maps-src');
    for (const n of [1, 2]) writeFileSync(path.join(source, `big${n}.bin`), patterned(LARGE + MiB, n));
    const store = new MemoryObjectStore();
    const broken = new Error('storage unit went away');
    const faults = withFaults(store).failOn('put', 1, broken, (key) => key.endsWith('/blocks.bin'));

    // Act
    const failure = await runBackup(backupTask('/unused', [source]), { store: faults.port, reporter: recordingReporter(), now: () => new Date(), largeFileBytes: LARGE }).then(
      () => undefined,
      (error: unknown) => error,
    );

    // Assess
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).statusCode).toBe(StatusCode.MEDIA_WRITE_ERROR);
    expect((failure as CairnError).cause).toBe(broken);
    expect(await store.list('')).toEqual([]);
  });

  describe('a chain of five incrementals', () => {
    /**
     * A full backup and five differential incrementals, each on the one
     * before: every time some blocks of the sparse image are rewritten, the
     * log grows and the database shrinks; a fourth large file stays as it
     * was until the last day, when one block changes. Returns the images
     * and the content of each large file as each image saw it.
     */
    async function chain(dir: (label: string) => string = track): Promise<{ unit: string; source: string; images: Backed[]; seen: Array<Map<string, Buffer>>; changedBlocks: number[]; files: { vm: string; log: string; db: string; still: string } }> {
      const source = dir('chain-src');
      const unit = dir('chain-unit');
      const files = { vm: path.join(source, 'vm/disk.img'), log: path.join(source, 'log/app.log'), db: path.join(source, 'db/app.db'), still: path.join(source, 'still/data.bin') };
      for (const dir of ['vm', 'log', 'db', 'still']) mkdirSync(path.join(source, dir));
      writeFileSync(files.still, patterned(LARGE + 2 * MiB, 5));
      writeSparseImage(files.vm);
      writeFileSync(files.log, patterned(LARGE + MiB + 123, 3));
      writeFileSync(files.db, patterned(LARGE + 4 * MiB, 4));
      const snapshot = (): Map<string, Buffer> => new Map(Object.values(files).map((f) => [f, readFileSync(f)]));
      const images = [await backUp(unit, source, 'host1_1700000000')];
      const seen = [snapshot()];
      const changedBlocks = [0];
      for (let day = 1; day <= 5; day++) {
        rewriteBlocks(files.vm, day, day + 1);
        appendFileSync(files.log, patterned(100_000 + day, 20 + day));
        truncateSync(files.db, LARGE + 4 * MiB - day * 70_000);
        if (day === 5) {
          const fd = openSync(files.still, 'r+');
          writeSync(fd, patterned(1000, 55), 0, 1000, 2 * MiB + 10);
          closeSync(fd);
        }
        images.push(await backUp(unit, source, `host1_${1700000000 + day * 3600}`, images.at(-1)!.image));
        seen.push(snapshot());
        changedBlocks.push(day + 1 + (day === 5 ? 1 : 0));
      }
      return { unit, source, images, seen, changedBlocks, files };
    }

    /**
     * One chain, built once, for the tests that only read it (each restores
     * into targets of its own and changes neither the source nor the unit);
     * a test that changes the unit changes a copy of it, one that changes
     * the source builds its own chain. Removed after the block.
     */
    const kept: Array<ReturnType<typeof tempDir>> = [];
    let shared: ReturnType<typeof chain> | undefined;
    const sharedChain = (): ReturnType<typeof chain> =>
      (shared ??= chain((label) => {
        const dir = tempDir(label);
        kept.push(dir);
        return dir.dir;
      }));
    afterAll(() => {
      for (const dir of kept.splice(0)) dir.cleanup();
    });

    const openerOf = (unit: string, images: readonly Backed[], missing?: string) => async (backupId: string) => {
      const found = images.find((b) => b.image.backupId === backupId);
      if (!found || backupId === missing) throw new NotFoundError('image', backupId);
      return { image: found.image, store: new FsObjectStore(unit) };
    };

    it('stores only the changed blocks, and restores every image byte for byte, plain and point in time', async () => {
      // Prepare
      const { unit, images, seen, changedBlocks, files } = await sharedChain();
      const openImage = openerOf(unit, images);

      for (let day = 1; day <= 5; day++) {
        // Assess: an incremental holds its changed blocks (the image's, the log's new tail and last block, the database's last block) and headers.
        const { stored, lines } = images[day]!;
        const logGrowth = Math.ceil((100_000 + day) / BLOCK_BYTES) + 1;
        expect(stored, `incremental ${day} stores ${stored} bytes`).toBeLessThanOrEqual((changedBlocks[day]! + logGrowth + 1) * BLOCK_BYTES + 32 * 1024);
        for (const file of [files.vm, files.log, files.db]) expect(lines.find((l) => l.path === file)?.unchangedBlocksIn).toBe(images[day - 1]!.image.backupId);
        // Unchanged, it is carried with its block map; changed on day 5, its diff is on the full backup that holds it.
        const still = lines.find((l) => l.path === files.still)!;
        expect(still.blockMap).toBeDefined();
        if (day < 5) expect(still.fromBackupId).toBe(images[0]!.image.backupId);
        else expect(still.unchangedBlocksIn).toBe(images[0]!.image.backupId);
      }

      for (let day = 0; day <= 5; day++) {
        // Act
        const plain = path.join(track('chain-plain'), 'target');
        const pit = path.join(track('chain-pit'), 'target');
        await restoreImage({ store: new FsObjectStore(unit), image: images[day]!.image, targetDir: plain, openImage });
        const result = await restorePointInTime({ image: images[day]!.image, openImage, targetDir: pit });

        // Assess
        expect(result.failures).toEqual([]);
        for (const [file, content] of seen[day]!) {
          // A plain restore of an incremental restores what it holds: not its unchanged files.
          if (images[day]!.lines.find((l) => l.path === file)!.fromBackupId === undefined) expect(readFileSync(path.join(plain, file)).equals(content), `${file} of image ${day} (plain)`).toBe(true);
          else expect(existsSync(path.join(plain, file))).toBe(false);
          expect(readFileSync(path.join(pit, file)).equals(content), `${file} of image ${day} (point in time)`).toBe(true);
        }
        expect(statSync(path.join(plain, files.vm)).blocks * 512).toBeLessThan(8 * MiB);
      }
    });

    it('stores a file that mostly changed whole again, and restores the chain through it', async () => {
      // Prepare: the database rewritten entirely on top of the chain.
      const { unit, source, images, files } = await chain();
      writeFileSync(files.db, patterned(LARGE + 4 * MiB, 77));
      const next = await backUp(unit, source, 'host1_1700100000', images.at(-1)!.image);
      const line = next.lines.find((l) => l.path === files.db)!;

      // Act
      const target = path.join(track('chain-whole'), 'target');
      await restorePointInTime({ image: next.image, targetDir: target, openImage: openerOf(unit, [...images, next]) });

      // Assess
      expect(line.unchangedBlocksIn).toBeUndefined();
      expect(next.stored).toBeGreaterThan(LARGE + 4 * MiB);
      expect(readFileSync(path.join(target, files.db)).equals(readFileSync(files.db))).toBe(true);
      expect(readFileSync(path.join(target, files.vm)).equals(readFileSync(files.vm))).toBe(true);
    });

    it('catches a corrupt block earlier in the chain by the whole-file sha256, and does not put the file in place', async () => {
      // Prepare: flip one byte of a changed block stored by incremental 2, in a copy of the shared chain's unit
      // (a copy costs milliseconds; a chain of its own, six backups: 11 s of this test's 12 s).
      const original = await sharedChain();
      const { images, files } = original;
      const unit = track('chain-corrupt-unit');
      cpSync(original.unit, unit, { recursive: true });
      const line = images[2]!.lines.find((l) => l.path === files.vm)!;
      const key = keyOf(images[2]!.image.copies[0]!.fragments.find((f) => f.number === line.fragment)!);
      const bytes = await objectBytes(new FsObjectStore(unit), key);
      const at = line.offset + 3 * 512 + 512 + 100; // pax header, its records, the member header, the map block: into the data
      bytes[at] = bytes[at]! ^ 0xff;
      writeFileSync(path.join(unit, key), bytes);

      // Act
      const target = path.join(track('chain-corrupt'), 'target');
      const failure = await restoreImage({ store: new FsObjectStore(unit), image: images[4]!.image, targetDir: target, openImage: openerOf(unit, images) }).then(
        () => undefined,
        (error: unknown) => error,
      );

      // Assess
      expect(failure).toBeInstanceOf(CairnError);
      expect((failure as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect((failure as CairnError).message).toContain(`${files.vm}: content sha256`);
      expect(existsSync(path.join(target, files.vm))).toBe(false);
      expect(readFileSync(path.join(target, files.log)).byteLength).toBeGreaterThan(LARGE + MiB);
    });

    it('refuses precisely when an image the chain needs is gone, before writing anything', async () => {
      // Prepare
      const { unit, images } = await sharedChain();

      // Act
      const target = path.join(track('chain-missing'), 'target');
      const failure = await restoreImage({ store: new FsObjectStore(unit), image: images[3]!.image, targetDir: target, openImage: openerOf(unit, images, images[1]!.image.backupId) }).then(
        () => undefined,
        (error: unknown) => error,
      );

      // Assess
      expect(failure).toBeInstanceOf(CairnError);
      expect((failure as CairnError).statusCode).toBe(StatusCode.IMAGE_NOT_FOUND);
      expect((failure as CairnError).message).toContain(`in image ${images[2]!.image.backupId} is a block diff whose unchanged blocks are in image ${images[1]!.image.backupId}, which cannot be opened`);
      expect(existsSync(target), 'nothing is written').toBe(false);
    });

    it('with best effort, lists the files whose chain is broken and restores the rest', async () => {
      // Prepare
      const { unit, images, files } = await sharedChain();

      // Act
      const target = path.join(track('chain-best-effort'), 'target');
      const result = await restoreImage({ store: new FsObjectStore(unit), image: images[3]!.image, targetDir: target, openImage: openerOf(unit, images, images[1]!.image.backupId), continueOnError: true });

      // Assess: every block diff of image 3 goes back through image 1; nothing else is lost.
      expect(result.failures).toHaveLength(3);
      expect(result.failures[0]).toContain(`${files.db}: not restored: ${files.db} in image ${images[2]!.image.backupId} is a block diff whose unchanged blocks are in image ${images[1]!.image.backupId}, which cannot be opened`);
      expect(result.failures[2]).toContain(`${files.vm}: not restored: ${files.vm} in image ${images[2]!.image.backupId} is a block diff whose unchanged blocks are in image ${images[1]!.image.backupId}, which cannot be opened`);
      for (const file of [files.vm, files.log, files.db]) expect(existsSync(path.join(target, file))).toBe(false);
      expect(lstatSync(path.join(target, path.dirname(files.vm))).isDirectory()).toBe(true);
    });
  });
});
