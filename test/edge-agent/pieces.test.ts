import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pack as createPack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { BLOCK_BYTES, LARGE_FILE_BYTES } from '#agent/image/block-map.ts';
import { pieceHeader } from '#agent/image/piece-member.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { extractTarStream } from '#agent/restore/tar-extractor.ts';
import { CairnError, NotFoundError } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { StatusCode } from '#core/status-codes.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { copy1, indexLines, keyOf, rewriteFragment, rewriteIndex } from './forge.ts';
import { backupTask, catalogImage, patterned, recordingReporter } from './helpers.ts';

const MiB = 1024 * 1024;
const PIECE_BYTES = MiB;

interface Backed {
  image: Image;
  lines: IndexEntry[];
}

/** Every file under `dir` (relative paths), to find leftovers such as temporary files. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

describe('pieces on a disk unit (pieceBytes 1 MiB, fragments of 1 MiB)', () => {
  let root: string;
  let source: string;
  let unit: string;
  let full: Backed;
  const at = (relative: string): string => path.join(source, relative);
  const line = (b: Backed, relative: string): IndexEntry => b.lines.find((l) => l.path === at(relative))!;
  const opener = (images: readonly Backed[]) => async (backupId: string) => {
    const found = images.find((b) => b.image.backupId === backupId);
    if (!found) throw new NotFoundError('image', backupId);
    return { image: found.image, store: new FsObjectStore(unit) };
  };
  const backUp = async (id: string, base?: Image): Promise<Backed> => {
    const into = unit;
    const store = new FsObjectStore(into);
    const storageUnit = { name: 'disk1', kind: 'disk' as const, path: into, fragmentSizeBytes: MiB, pieceBytes: PIECE_BYTES };
    const task = backupTask(into, [source], {
      backupId: id,
      storageUnit,
      ...(base ? { level: 'differential-incremental', base: { backupId: base.backupId, indexKey: copy1(base).indexKey, indexSha256: copy1(base).indexSha256, storageUnit } } : {}),
    });
    const result = await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    return { image, lines: await indexLines(store, image) };
  };
  const target = (label: string): string => path.join(mkdtempSync(path.join(root, `${label}-`)), 'target');
  /** The files' content when the full image was taken. */
  const originals = new Map<string, Buffer>();
  const expectSame = (restoredRoot: string, relatives: readonly string[], now = false): void => {
    for (const relative of relatives) expect(readFileSync(path.join(restoredRoot, source, relative)).equals(now ? readFileSync(at(relative)) : originals.get(relative)!), relative).toBe(true);
  };
  const everyFile = ['a/small.txt', 'big.bin', 'large.img', 'sparse-small.img', 'sparse-big.img', 'z/after.txt'];

  beforeAll(async () => {
    mkdirSync('/tmp/pieces', { recursive: true });
    root = mkdtempSync('/tmp/pieces/disk-');
    source = path.join(root, 'src');
    unit = path.join(root, 'unit');
    mkdirSync(path.join(source, 'a'), { recursive: true });
    mkdirSync(path.join(source, 'z'), { recursive: true });
    writeFileSync(at('a/small.txt'), 'small\n');
    // Read by the reader thread (below LARGE_FILE_BYTES), and by blocks (above it).
    writeFileSync(at('big.bin'), patterned(5 * MiB + 777, 1));
    writeFileSync(at('large.img'), patterned(LARGE_FILE_BYTES + 3 * BLOCK_BYTES + 100, 2));
    // Holes: one whose data fits in a piece (a sparse member), one whose data does not (stored whole, in pieces).
    for (const [name, extents] of [['sparse-small.img', [3]], ['sparse-big.img', [2, 9]]] as const) {
      writeFileSync(at(name), '');
      truncateSync(at(name), LARGE_FILE_BYTES + MiB);
      const fd = openSync(at(name), 'r+');
      for (const [n, mib] of extents.entries()) writeSync(fd, patterned(mib === 3 ? 256 * 1024 : MiB, 10 + n), 0, mib === 3 ? 256 * 1024 : MiB, mib * MiB);
      closeSync(fd);
    }
    writeFileSync(at('z/after.txt'), patterned(10_000, 3));
    for (const relative of everyFile) originals.set(relative, readFileSync(at(relative)));
    full = await backUp('host1_1700000000');
  });
  /** A copy of the full image's unit to damage: the image and its catalog record stay valid for it. */
  const copyOfUnit = (label: string): { store: FsObjectStore; dir: string } => {
    const dir = path.join(root, `unit-${label}`);
    cpSync(unit, dir, { recursive: true });
    return { store: new FsObjectStore(dir), dir };
  };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes files above pieceBytes as pieces, closes fragments between pieces, and restores every file byte for byte', async () => {
    // Assess the index: pieced files list one pieces entry per fragment; a sparse member that fits in a piece stays one member.
    for (const name of ['big.bin', 'large.img', 'sparse-big.img']) {
      const l = line(full, name);
      expect(l.pieces!.length, name).toBeGreaterThan(2);
      expect(l.pieces![0]).toEqual({ fragment: l.fragment, offset: l.offset, fileOffset: 0 });
    }
    expect(line(full, 'sparse-small.img').pieces).toBeUndefined();
    expect(line(full, 'a/small.txt').pieces).toBeUndefined();
    // No fragment grows past its size by more than one piece and its headers.
    for (const fragment of copy1(full.image).fragments) expect(fragment.bytes).toBeLessThan(MiB + PIECE_BYTES + 64 * 1024);

    // Act
    const dir = target('all');
    const restored = await restoreImage({ store: new FsObjectStore(unit), image: full.image, targetDir: dir });

    // Assess
    expect(restored.failures).toEqual([]);
    expect(restored.verified).toBe(everyFile.length);
    expectSame(dir, everyFile);
  });

  it('backs up and restores a pieced file read in chunks that straddle its pieces (data buffers of 96 KiB, pieces of 1 MiB)', async () => {
    // Prepare: chunks of one data buffer, which 1 MiB pieces do not divide: a chunk is cut at every piece boundary.
    const odd = path.join(root, 'unit-odd-buffers');
    const storageUnit = { name: 'disk1', kind: 'disk' as const, path: odd, fragmentSizeBytes: MiB, pieceBytes: PIECE_BYTES };
    const task = backupTask(odd, [at('big.bin')], { backupId: 'host1_1700000050', storageUnit, buffers: { count: 4, sizeBytes: 96 * 1024 } });

    // Act
    const result = await runBackup(task, { store: new FsObjectStore(odd), reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const dir = target('odd');
    const restored = await restoreImage({ store: new FsObjectStore(odd), image, targetDir: dir });

    // Assess (fragment-writer-pieces.test.ts forces the early hand-back of a cut chunk, which once detached its second part).
    expect(result.statusCode).toBe(0);
    expect((await indexLines(new FsObjectStore(odd), image)).find((l) => l.path === at('big.bin'))!.pieces!.length).toBeGreaterThan(2);
    expect(restored.failures).toEqual([]);
    expectSame(dir, ['big.bin'], true);
  });

  it('restores one pieced file alone, and a point-in-time restore of an incremental whose block diff is on a pieced version', async () => {
    // Prepare: a few blocks of the pieced large file change; the incremental stores them as a diff on the full image.
    const fd = openSync(at('large.img'), 'r+');
    writeSync(fd, patterned(BLOCK_BYTES, 99), 0, BLOCK_BYTES, 7 * BLOCK_BYTES);
    closeSync(fd);
    const incremental = await backUp('host1_1700000100', full.image);
    expect(line(incremental, 'large.img').unchangedBlocksIn).toBe(full.image.backupId);
    expect(line(incremental, 'large.img').pieces).toBeUndefined();

    // Act
    const one = target('one');
    const single = await restoreImage({ store: new FsObjectStore(unit), image: full.image, targetDir: one, paths: [at('big.bin')] });
    const pit = target('pit');
    const chain = await restorePointInTime({ image: incremental.image, targetDir: pit, openImage: opener([full, incremental]) });

    // Assess
    expect(single.failures).toEqual([]);
    expect(single.verified).toBe(1);
    expect(filesUnder(path.join(one, source))).toEqual(['big.bin']);
    expectSame(one, ['big.bin']);
    expect(chain.failures).toEqual([]);
    expectSame(pit, everyFile, true);
  });

  it('names the file and the missing fragment when a fragment holding pieces is gone; best effort restores the rest and leaves no partial file', async () => {
    // Prepare: a copy of the image whose fragment holding big.bin's second run of pieces is removed.
    const { dir: copyUnit } = copyOfUnit('missing');
    const image = full.image;
    const big = line(full, 'big.bin');
    const gone = copy1(image).fragments.find((f) => f.number === big.pieces![1]!.fragment)!;
    rmSync(path.join(copyUnit, keyOf(gone)));

    // Act
    const strict = await restoreImage({ store: new FsObjectStore(copyUnit), image, targetDir: target('missing-strict') }).catch((error: unknown) => error);
    const dir = target('missing');
    const best = await restoreImage({ store: new FsObjectStore(copyUnit), image, targetDir: dir, continueOnError: true });

    // Assess
    expect((strict as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect(best.failures).toContain(`${at('big.bin')}: not restored: piece 2 (from file byte ${big.pieces![1]!.fileOffset}) is in fragment ${gone.number} (${keyOf(gone)}), which is missing`);
    expect(filesUnder(path.join(dir, source))).toEqual(everyFile.filter((f) => f !== 'big.bin').sort());
    expectSame(dir, everyFile.filter((f) => f !== 'big.bin'));
  });

  it('refuses a pieced file whose pieces were tampered with: the whole file fails its sha256, naming it and its pieces; nothing is put in place', async () => {
    // Prepare: one byte of big.bin's third piece changed, the fragment resealed so only the content is wrong.
    const { dir: copyUnit } = copyOfUnit('corrupt');
    let image = full.image;
    const big = line(full, 'big.bin');
    const run = big.pieces![1]!;
    image = await rewriteFragment(new FsObjectStore(copyUnit), image, run.fragment, (bytes) => {
      const copy = Buffer.from(bytes);
      // Past the run's first headers (a pax header and the ustar header): inside its first piece's data.
      copy[run.offset + 4096] = copy[run.offset + 4096]! ^ 0xff;
      return copy;
    });

    // Act
    const dir = target('corrupt');
    const best = await restoreImage({ store: new FsObjectStore(copyUnit), image, targetDir: dir, continueOnError: true });
    const strict = await restoreImage({ store: new FsObjectStore(copyUnit), image, targetDir: target('corrupt-strict') }).catch((error: unknown) => error);

    // Assess
    const failure = best.failures.find((f) => f.startsWith(`${at('big.bin')}: `));
    const fragments = [...new Set(big.pieces!.map((p) => p.fragment))];
    expect(failure).toMatch(new RegExp(`content sha256 [0-9a-f]{64} does not match the index \\([0-9a-f]{64}\\) \\(the file joined from its 6 pieces in fragments ${fragments.join(', ')}\\)$`));
    expect(filesUnder(path.join(dir, source))).toEqual(everyFile.filter((f) => f !== 'big.bin').sort());
    expect((strict as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
  });

  describe('a forged index', () => {
    const forged = async (label: string, edit: (big: IndexEntry, lines: IndexEntry[]) => IndexEntry): Promise<{ image: Image; store: FsObjectStore; big: IndexEntry }> => {
      const { store } = copyOfUnit(label);
      const big = line(full, 'big.bin');
      const image = await rewriteIndex(store, full.image, (lines) => lines.map((l) => (l.path === big.path ? edit(big, lines) : l)));
      return { image, store, big };
    };

    it('refuses pieces that do not continue the file (the index places a run at another file byte)', async () => {
      // Prepare: the second run said to start 512 bytes later in the file.
      const { image, store, big } = await forged('offset', (b) => ({ ...b, pieces: b.pieces!.map((p, i) => (i === 1 ? { ...p, fileOffset: p.fileOffset + 512 } : p)) }));
      const run = big.pieces![1]!;

      // Act
      const dir = target('forged-offset');
      const result = await restoreImage({ store, image, targetDir: dir, continueOnError: true, paths: [at('big.bin')] });

      // Assess
      expect(result.failures).toEqual([expect.stringContaining(`${at('big.bin')}: not restored: its piece 2, ${source.slice(1)}/GNUFileParts/big.bin.2 (header at byte `)]);
      expect(result.failures[0]).toContain(`is the first in fragment ${run.fragment}, where the index places the piece at file byte ${run.fileOffset + 512} from byte ${run.offset}`);
      expect(filesUnder(dir)).toEqual([]);
    });

    it('refuses pieces whose runs go backwards or past the file, before reading any fragment', async () => {
      // Prepare
      const { image, store } = await forged('order', (b) => ({ ...b, pieces: [b.pieces![0]!, { ...b.pieces![2]!, fileOffset: b.size + 1 }] }));

      // Act
      const result = await restoreImage({ store, image, targetDir: target('forged-order'), continueOnError: true });

      // Assess
      expect(result.failures).toEqual([expect.stringMatching(new RegExp(`^${at('big.bin')}: the index of image \\S+ lists pieces from file byte ${5 * MiB + 778} in fragment \\d+, which does not continue the pieces before`))]);
    });

    it("refuses another file's pieces where the index places this file's (a name mismatch)", async () => {
      // Prepare: big.bin's last run pointed at large.img's second run.
      const { image, store, big } = await forged('name', (b, lines) => {
        const other = lines.find((l) => l.path === at('large.img'))!.pieces![1]!;
        return { ...b, pieces: [...b.pieces!.slice(0, -1), { ...other, fileOffset: b.pieces!.at(-1)!.fileOffset }] };
      });

      // Act
      const dir = target('forged-name');
      const result = await restoreImage({ store, image, targetDir: dir, continueOnError: true, paths: [at('big.bin')] });

      // Assess
      const last = big.pieces!.length;
      expect(result.failures).toEqual([expect.stringMatching(new RegExp(`^${at('big.bin')}: not restored: its piece \\d+ \\(from file byte ${big.pieces![last - 1]!.fileOffset}\\) belongs where ${source.slice(1)}/GNUFileParts/large.img.\\d+ \\(header at byte \\d+\\) is, a piece of ${at('large.img')}$`))]);
      expect(filesUnder(dir)).toEqual([]);
    });
  });

  it('refuses pieces whose file name escapes the target (../../etc), writing nothing outside it', async () => {
    // Prepare: a tar of two pieces of /../../etc/evil, as a forger would pack them.
    const pack = createPack();
    const chunks: Buffer[] = [];
    pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
    const spec = { path: '/../../etc/evil', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000_000_000_000n, size: 2048 };
    for (const k of [1, 2]) pack.entry(pieceHeader(spec, k, (k - 1) * 1024, 1024), Buffer.alloc(1024, k));
    pack.finalize();
    await new Promise<void>((resolve) => pack.on('end', () => resolve()));
    const dir = target('escape');

    // Act
    const result = await extractTarStream((async function* () {
      yield Buffer.concat(chunks);
    })(), { targetDir: dir });

    // Assess
    expect(result.refused).toEqual(Array(2).fill('../../etc/evil: path contains a ".." segment'));
    expect(filesUnder(path.dirname(dir))).toEqual([]);
  });
});
