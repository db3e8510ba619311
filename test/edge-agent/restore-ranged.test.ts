import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { objectStoreFragmentSource } from '#agent/image/object-store-fragments.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import type { Fragment, Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { FragmentSource, TarRange } from '#core/ports/fragment-sink.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { copy1, headerOffset, indexLines, objectBytes, keyOf, rewriteFragment, rewriteIndex } from './forge.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, tempDir } from './helpers.ts';

const KiB = 1024;
/** A name longer than ustar's 100 bytes: its member starts with a pax header, before the header the extractor reports. */
/** What a member takes beyond its data: a pax header (two blocks), its own header, the padding of its data. */
const MEMBER_OVERHEAD = 4 * 512;
const LONG = `${'long-name-'.repeat(12)}.bin`;

/**
 * 3 directories × 40 files of 20 KiB (plus a long-named one and a hard
 * link), about 2.4 MiB: with the 1 MiB fragment size, three fragments of
 * about 50 members each.
 */
function buildTree(root: string): void {
  for (const [d, dir] of ['a', 'b', 'c'].entries()) {
    mkdirSync(path.join(root, dir));
    for (let i = 0; i < 40; i++) writeFileSync(path.join(root, dir, `f${String(i).padStart(2, '0')}.bin`), patterned(20 * KiB + i, d * 100 + i));
  }
  writeFileSync(path.join(root, 'b', LONG), patterned(30 * KiB, 999));
  linkSync(path.join(root, 'a/f03.bin'), path.join(root, 'c/hard-to-a03'));
}

/** Counts the fragment bytes each `get` hands out (ranged or not), and the ranges asked for. */
class CountingStore {
  fragmentBytes = 0;
  otherBytes = 0;
  readonly ranges: Array<{ key: string; start: number; end?: number }> = [];
  readonly store: ObjectStore;

  constructor(inner: ObjectStore) {
    const count = (key: string, n: number): void => {
      if (key.includes('fragment-')) this.fragmentBytes += n;
      else this.otherBytes += n;
    };
    const ranges = this.ranges;
    this.store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'get') {
          return async (key: string, range?: { start: number; end?: number }) => {
            if (range) ranges.push({ key, ...range });
            const body = await target.get(key, range);
            return (async function* () {
              for await (const chunk of body) {
                count(key, chunk.byteLength);
                yield chunk;
              }
            })();
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => !d.isDirectory())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

describe('a selective restore reads only the members it wants', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let scratch: ReturnType<typeof tempDir>;
  let store: FsObjectStore;
  let image: Image;
  let lines: IndexEntry[];
  let n = 0;
  const line = (relative: string): IndexEntry => lines.find((l) => l.path === path.join(source.dir, relative))!;
  const target = (): string => path.join(scratch.dir, `t${n++}`);

  beforeAll(async () => {
    source = tempDir('ranged-src');
    unit = tempDir('ranged-unit');
    buildTree(source.dir);
    store = new FsObjectStore(unit.dir);
    const task = backupTask(unit.dir, [source.dir]);
    image = catalogImage(task, await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() }));
    lines = await indexLines(store, image);
  });
  afterAll(() => {
    source.cleanup();
    unit.cleanup();
  });
  beforeAll(() => {
    scratch = tempDir('ranged-target');
  });
  afterAll(() => scratch.cleanup());

  it('has the layout the tests rely on: several fragments of many members each', () => {
    expect(copy1(image).fragments.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.fragment === line('b/f20.bin').fragment).length).toBeGreaterThan(30);
  });

  it('restores one file byte for byte, reading its member and next to nothing else of the image', async () => {
    const counting = new CountingStore(store);
    const dir = target();
    const wanted = line('b/f20.bin');

    const result = await restoreImage({ store: counting.store, image, targetDir: dir, paths: [wanted.path] });

    expect(result).toMatchObject({ files: 1, verified: 1, failures: [], refused: [] });
    expect(readFileSync(path.join(dir, wanted.path)).equals(readFileSync(wanted.path))).toBe(true);
    // Its header block and its data padded to 512 bytes: exactly the span from its offset to the next line's.
    const next = lines[lines.indexOf(wanted) + 1]!;
    expect(counting.ranges).toEqual([{ key: keyOf(copy1(image).fragments[wanted.fragment - 1]!), start: wanted.offset, end: next.offset }]);
    expect(counting.fragmentBytes).toBe(next.offset - wanted.offset);
    expect(counting.fragmentBytes).toBeLessThan(wanted.size + MEMBER_OVERHEAD);
    expect(filesUnder(dir)).toEqual([path.relative('/', wanted.path)]);
  });

  it('reads a member from its first header: a long name’s pax header is part of its span', async () => {
    const counting = new CountingStore(store);
    const dir = target();
    const wanted = line(`b/${LONG}`);

    const result = await restoreImage({ store: counting.store, image, targetDir: dir, paths: [wanted.path] });

    expect(result).toMatchObject({ files: 1, verified: 1, failures: [] });
    expect(readFileSync(path.join(dir, wanted.path)).equals(readFileSync(wanted.path))).toBe(true);
    expect(counting.fragmentBytes).toBeLessThan(wanted.size + MEMBER_OVERHEAD);
  });

  it('restores a directory as one span per fragment, byte for byte, still reading a fraction of the image', async () => {
    const counting = new CountingStore(store);
    const dir = target();

    const result = await restoreImage({ store: counting.store, image, targetDir: dir, paths: [path.join(source.dir, 'c')] });

    // c/, its 40 files and its hard link, whose target a/f03.bin comes with it from an earlier fragment.
    expect(result).toMatchObject({ files: 43, failures: [], refused: [] });
    for (let i = 0; i < 40; i++) {
      const relative = `c/f${String(i).padStart(2, '0')}.bin`;
      expect(readFileSync(path.join(dir, source.dir, relative)).equals(readFileSync(path.join(source.dir, relative))), relative).toBe(true);
    }
    expect(readFileSync(path.join(dir, source.dir, 'c/hard-to-a03')).equals(readFileSync(path.join(source.dir, 'a/f03.bin')))).toBe(true);
    const imageBytes = copy1(image).fragments.reduce((sum, f) => sum + f.bytes, 0);
    expect(counting.fragmentBytes).toBeLessThan(imageBytes / 2);
  });

  it('reads whole fragments, checking their sha256, for a full restore', async () => {
    const counting = new CountingStore(store);
    await restoreImage({ store: counting.store, image, targetDir: target() });
    expect(counting.ranges).toEqual([]);
    expect(counting.fragmentBytes).toBe(copy1(image).fragments.reduce((sum, f) => sum + f.bytes, 0));
  });

  it('asks the copy’s fragment source for the ranges, so a decoding source gets them too', async () => {
    const asked: Array<{ fragment: number; range?: TarRange }> = [];
    const inner = objectStoreFragmentSource(store, 'disk1');
    const fragmentSource: FragmentSource = {
      read: (fragment: Fragment, range?: TarRange) => {
        asked.push({ fragment: fragment.number, ...(range ? { range } : {}) });
        return inner.read(fragment, range);
      },
    };
    const wanted = line('a/f10.bin');
    await restoreImage({ store, image, fragmentSource, targetDir: target(), paths: [wanted.path] });
    expect(asked).toEqual([{ fragment: wanted.fragment, range: { start: wanted.offset, end: lines[lines.indexOf(wanted) + 1]!.offset } }]);
  });

  describe('with a damaged or forged image', () => {
    let forgedUnit: ReturnType<typeof tempDir>;
    let forgedStore: FsObjectStore;

    beforeAll(() => {
      forgedUnit = tempDir('ranged-forged');
    });
    afterAll(() => forgedUnit.cleanup());

    /** A copy of the image in a unit of its own, to damage. */
    async function copyOfImage(): Promise<FsObjectStore> {
      const dir = path.join(forgedUnit.dir, `u${n++}`);
      forgedStore = new FsObjectStore(dir);
      for (const key of await store.list('')) await forgedStore.put(key, await objectBytes(store, key));
      return forgedStore;
    }

    it('catches flipped bytes inside a ranged member by its sha256, and puts nothing in place', async () => {
      const damaged = await copyOfImage();
      const wanted = line('b/f20.bin');
      // The catalog is resealed: only the member's content is wrong, and its fragment's checksum is never read.
      const forged = await rewriteFragment(damaged, image, wanted.fragment, (bytes) => {
        const at = headerOffset(bytes, wanted) + 512 + 5000;
        bytes[at] = bytes[at]! ^ 0x40;
        return bytes;
      });
      const counting = new CountingStore(damaged);
      const dir = target();

      const failure = await failureOf(restoreImage({ store: counting.store, image: forged, targetDir: dir, paths: [wanted.path] }));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(failure.message).toMatch(new RegExp(`^image host1_1700000000 is corrupt: ${wanted.path}: content sha256 [0-9a-f]{64} does not match the index \\(${wanted.sha256}\\)$`));
      expect(counting.fragmentBytes).toBeLessThan(wanted.size + MEMBER_OVERHEAD);
      expect(filesUnder(dir)).toEqual([]);
    });

    it('refuses an index offset that points into the middle of a member, naming the fragment, the byte and the path', async () => {
      const damaged = await copyOfImage();
      const wanted = line('b/f20.bin');
      // 8 KiB into its 20 KiB of data, past any pax header.
      const forgedOffset = wanted.offset + 8192;
      // The index is resealed in the catalog: it is trusted, and its offset is all that is wrong.
      const forged = await rewriteIndex(damaged, image, (all) => all.map((l) => (l.path === wanted.path ? { ...l, offset: forgedOffset } : l)));
      const dir = target();

      const failure = await failureOf(restoreImage({ store: damaged, image: forged, targetDir: dir, paths: [wanted.path] }));

      expect(failure.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      const fragment = copy1(forged).fragments[wanted.fragment - 1]!;
      expect(failure.details).toEqual([
        `fragment ${fragment.number} (${keyOf(fragment)}) at byte ${forgedOffset} (where the index places ${wanted.path}) is not a readable tar archive at its first header: a header block fails its checksum`,
        `${wanted.path}: the index places it in fragment ${fragment.number} (${keyOf(fragment)}) at byte ${forgedOffset}, where there is no such member`,
      ]);
      expect(filesUnder(dir)).toEqual([]);
    });
  });

  describe('a point-in-time restore', () => {
    it('takes an unchanged file from the earlier image by its range', async () => {
      // Prepare: an incremental of the same tree in the same unit with one file changed; the file asked for is unchanged, its data in the full image.
      const changed = path.join(source.dir, 'a/f00.bin');
      const before = readFileSync(changed);
      writeFileSync(changed, patterned(20 * KiB, 4242));
      try {
        const task = backupTask(unit.dir, [source.dir], {
          backupId: 'host1_1700003600',
          schedule: 'incr',
          level: 'differential-incremental',
          base: { backupId: image.backupId, indexKey: copy1(image).indexKey, indexSha256: copy1(image).indexSha256, storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 1024 * 1024 } },
        });
        const final = catalogImage(task, await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() }));
        const counting = new CountingStore(store);
        const images = new Map([final, image].map((i) => [i.backupId, i]));
        const openImage = async (backupId: string) => ({ image: images.get(backupId)!, store: counting.store });
        const wanted = line('c/f30.bin');
        const dir = target();

        // Act
        const result = await restorePointInTime({ image: final, openImage, targetDir: dir, paths: [wanted.path] });

        // Assess: from the full image, one member's span.
        expect(result).toMatchObject({ files: 1, verified: 1, failures: [], images: [image.backupId, final.backupId] });
        expect(readFileSync(path.join(dir, wanted.path)).equals(readFileSync(wanted.path))).toBe(true);
        expect(counting.ranges.map((r) => r.key)).toEqual([keyOf(copy1(image).fragments[wanted.fragment - 1]!)]);
        expect(counting.fragmentBytes).toBeLessThan(wanted.size + MEMBER_OVERHEAD);
      } finally {
        writeFileSync(changed, before);
      }
    });
  });
});
