import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { chunkMayHoldPath, chunkMayHoldSubtree, comparePaths, type IndexChunk } from '#agent/image/index-chunks.ts';
import { readIndex, readIndexChunk } from '#agent/image/index-reader.ts';
import { IndexWriter } from '#agent/image/index-writer.ts';
import { readManifest } from '#agent/image/manifest.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { restorePointInTime } from '#agent/restore/point-in-time.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';
import { copy1, indexLines, objectBytes, rewriteManifest } from './forge.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, tempDir } from './helpers.ts';

/*
 * The chunked index (docs/image-format.md, "File index"): one gzip stream
 * of independently readable members, a chunk table in the manifest whose
 * sha256 the catalog holds, and restores of a few paths that read only the
 * chunks that can hold them.
 */

/** Names that sort around `/`: `a/…` comes before `a-c` and `a.d` in the walk, though `-` and `.` are below `/` as characters. */
const NAMES = ['a', 'a-c', 'a.d', 'a0', 'B', 'b', 'é'];

/** The paths of a tree in the walker's order: each directory, then its contents sorted by name (UTF-16 code units). */
function walkOrder(root: string, depth: number, filesPerLeaf: number): string[] {
  const out: string[] = [];
  const visit = (dir: string, level: number): void => {
    out.push(dir);
    const names = level === depth ? Array.from({ length: filesPerLeaf }, (_, i) => `file-${i}`) : [...NAMES];
    names.sort();
    for (const name of names) {
      if (level === depth) out.push(`${dir}/${name}`);
      else visit(`${dir}/${name}`, level + 1);
    }
  };
  visit(root, 0);
  return out;
}

/** Index lines for `paths`, members in fragments of 3,000 lines, every fifth line an unchanged file of an earlier image. */
function linesFor(paths: readonly string[]): IndexEntry[] {
  return paths.map((p, i) => {
    const unchanged = i % 5 === 4;
    return {
      path: p,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: i,
      mtimeMs: 1_700_000_000_000 + i,
      fragment: unchanged ? 0 : 1 + Math.floor(i / 3000),
      offset: unchanged ? 0 : (i % 3000) * 1024,
      sha256: 'ab'.repeat(32),
      ...(unchanged ? { fromBackupId: 'host1_1600000000' } : {}),
    };
  });
}

async function writeIndex(store: ObjectStore, key: string, lines: readonly IndexEntry[]): Promise<Awaited<ReturnType<IndexWriter['finish']>>> {
  const writer = new IndexWriter(store, key);
  for (const line of lines) await writer.add(line);
  return writer.finish();
}

async function allOf(entries: AsyncIterable<IndexEntry>): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

describe('the chunked index', () => {
  const key = 'images/host1/host1_1700000000/index.ndjson.gz';
  // 7³ leaf directories of 40 files: about 14,000 lines, 2 MB of JSON.
  const paths = walkOrder('/r', 3, 40);
  const lines = linesFor(paths);

  it('orders paths as the walk does, segment by segment', () => {
    for (let i = 1; i < paths.length; i++) expect(comparePaths(paths[i - 1]!, paths[i]!), `${paths[i - 1]} before ${paths[i]}`).toBeLessThan(0);
    // Plain string order would not do: '-' and '.' are below '/'.
    expect('/r/a-c' < '/r/a/a').toBe(true);
    expect(paths.indexOf('/r/a/a')).toBeLessThan(paths.indexOf('/r/a-c'));
    expect(comparePaths('/r/a/b/c', '/r/a/b')).toBeGreaterThan(0);
  });

  it('reads the same lines whole (readIndex, zcat) and chunk by chunk', async () => {
    // Prepare + Act
    const store = new MemoryObjectStore();
    const written = await writeIndex(store, key, lines);

    // Assess: several chunks, the whole file one gzip stream, each chunk on its own the same lines in the same order.
    const chunks = written.chunks!;
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    expect(await allOf(readIndex(store, key, written.sha256))).toEqual(lines);
    expect(gunzipSync(await objectBytes(store, key)).toString('utf8')).toBe(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const byChunk = (await Promise.all(chunks.map((chunk, i) => readIndexChunk(store, key, chunk, i + 1)))).flat();
    expect(byChunk).toEqual(lines);
    expect(chunks[0]!.offset).toBe(0);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.offset).toBe(chunks[i - 1]!.offset + chunks[i - 1]!.bytes);
    expect(chunks.at(-1)!.offset + chunks.at(-1)!.bytes).toBe(written.bytes);
  });

  it('finds every path in the chunks the table points at, and every subtree in the chunks it selects', async () => {
    const store = new MemoryObjectStore();
    const chunks = (await writeIndex(store, key, lines)).chunks!;
    const held = await Promise.all(chunks.map((chunk, i) => readIndexChunk(store, key, chunk, i + 1)));

    // A path: in a chunk whose range holds it, and in no more than two chunks' ranges.
    for (const line of lines) {
      const candidates = chunks.flatMap((chunk, i) => (chunkMayHoldPath(chunk, line.path) ? [i] : []));
      expect(candidates.some((i) => held[i]!.some((l) => l.path === line.path)), line.path).toBe(true);
      expect(candidates.length).toBeLessThanOrEqual(2);
    }
    // A subtree: every line at or under it is in the chunks selected; a small one selects few.
    for (const root of ['/r/a', '/r/a-c', '/r/a.d', '/r/a/a', '/r/a/a-c/B', '/r/é/é/é', '/r/b/a0/a.d/file-7', '/r/zz']) {
      const selected = chunks.flatMap((chunk, i) => (chunkMayHoldSubtree(chunk, root) ? held[i]! : []));
      const expected = lines.filter((l) => l.path === root || l.path.startsWith(`${root}/`)).map((l) => l.path);
      expect(selected.filter((l) => expected.includes(l.path)).map((l) => l.path), root).toEqual(expected);
    }
    expect(chunks.filter((chunk) => chunkMayHoldSubtree(chunk, '/r/a/a-c/B')).length).toBeLessThanOrEqual(2);
  });

  it("records the member after each chunk: where a ranged read ends the chunk's last member", async () => {
    const store = new MemoryObjectStore();
    const chunks = (await writeIndex(store, key, lines)).chunks!;
    let start = 0;
    for (const chunk of chunks) {
      const after = lines.slice(start + chunk.entries).find((l) => l.fragment !== 0);
      expect(chunk.next).toEqual(after === undefined ? undefined : { fragment: after.fragment, offset: after.offset });
      start += chunk.entries;
    }
  });

  it('cuts a chunk where the walk order breaks (selections out of order), so lookups stay exact', async () => {
    // Prepare: a second selection that sorts before the first.
    const store = new MemoryObjectStore();
    const outOfOrder = linesFor([...walkOrder('/z', 2, 30), ...walkOrder('/m', 2, 30)]);
    const chunks = (await writeIndex(store, key, outOfOrder)).chunks!;
    const held = await Promise.all(chunks.map((chunk, i) => readIndexChunk(store, key, chunk, i + 1)));

    // Assess: no chunk mixes both, and every path is found.
    expect(held.every((c) => c.every((l) => l.path.startsWith('/z')) || c.every((l) => l.path.startsWith('/m')))).toBe(true);
    for (const line of outOfOrder) expect(chunks.some((chunk, i) => chunkMayHoldPath(chunk, line.path) && held[i]!.some((l) => l.path === line.path)), line.path).toBe(true);
  });

  it('refuses a chunk whose bytes are not those of the table', async () => {
    const store = new MemoryObjectStore();
    const chunks = (await writeIndex(store, key, lines)).chunks!;
    const bytes = await objectBytes(store, key);
    bytes[chunks[2]!.offset + 100]! ^= 0x01;
    await store.put(key, bytes);

    const error = await failureOf(readIndexChunk(store, key, chunks[2]!, 3));
    expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
    expect(error.message).toContain(`index ${key} chunk 3 (bytes ${chunks[2]!.offset}-`);
    expect(error.message).toContain('has sha256');
  });
});

/** Counts what each `get` hands out, by kind of object. */
class CountingStore {
  indexBytes = 0;
  fragmentBytes = 0;
  otherBytes = 0;
  readonly store: ObjectStore;

  constructor(inner: ObjectStore) {
    const count = (key: string, n: number): void => {
      if (key.endsWith('/index.ndjson.gz')) this.indexBytes += n;
      else if (key.includes('/fragment-')) this.fragmentBytes += n;
      else this.otherBytes += n;
    };
    this.store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'get') {
          return async (k: string, range?: { start: number; end?: number }) => {
            const body = await target.get(k, range);
            return (async function* () {
              for await (const chunk of body) {
                count(k, chunk.byteLength);
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

describe('a restore of a few paths from an image with thousands of files', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let scratch: ReturnType<typeof tempDir>;
  let store: FsObjectStore;
  let image: Image;
  let chunks: IndexChunk[];
  let indexBytes: number;
  let n = 0;
  const target = (): string => path.join(scratch.dir, `t${n++}`);
  const big = (): string => path.join(source.dir, 'g30', 'big.bin');

  beforeAll(async () => {
    source = tempDir('chunks-src');
    unit = tempDir('chunks-unit');
    scratch = tempDir('chunks-target');
    // 60 directories of 100 small files (names around '/' in the first), and one 1 MiB file in the middle.
    for (let d = 0; d < 60; d++) {
      const dir = path.join(source.dir, `g${d}`);
      mkdirSync(dir);
      for (let f = 0; f < 100; f++) writeFileSync(path.join(dir, `f${f}`), patterned(50 + f, d * 1000 + f));
    }
    mkdirSync(path.join(source.dir, 'g1', 'a', 'b'), { recursive: true });
    for (const name of ['a/b/c', 'a-c', 'a.d']) writeFileSync(path.join(source.dir, 'g1', name), name);
    writeFileSync(big(), patterned(1024 * 1024, 77));
    store = new FsObjectStore(unit.dir);
    const task = backupTask(unit.dir, [source.dir], { storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 64 * 1024 * 1024 } });
    image = catalogImage(task, await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() }));
    chunks = (await readManifest(store, copy1(image).manifestKey)).indexChunks!;
    indexBytes = (await objectBytes(store, copy1(image).indexKey)).length;
  }, 120_000);
  afterAll(() => {
    source.cleanup();
    unit.cleanup();
    scratch.cleanup();
  });

  it('has a chunk table the catalog vouches for, of several chunks', () => {
    expect(copy1(image).indexChunksSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    // A real walk never breaks the order: chunks end by size only, each after the one before.
    for (let i = 1; i < chunks.length; i++) expect(comparePaths(chunks[i - 1]!.last, chunks[i]!.first)).toBeLessThan(0);
  });

  it('restores one file byte for byte, reading one or two chunks of the index', async () => {
    const counting = new CountingStore(store);
    const dir = target();

    const result = await restoreImage({ store: counting.store, image, targetDir: dir, paths: [big()] });

    expect(result).toMatchObject({ files: 1, verified: 1, failures: [] });
    expect(readFileSync(path.join(dir, big())).equals(readFileSync(big()))).toBe(true);
    const largestTwo = chunks.map((c) => c.bytes).sort((a, b) => b - a).slice(0, 2).reduce((a, b) => a + b, 0);
    expect(counting.indexBytes).toBeGreaterThan(0);
    expect(counting.indexBytes).toBeLessThanOrEqual(largestTwo);
    expect(counting.indexBytes).toBeLessThan(indexBytes / 2);
    expect(counting.fragmentBytes).toBeLessThan(1024 * 1024 + 4 * 512);
  });

  it("reads the last file of a chunk up to the next member only (the table's `next`), without the next chunk", async () => {
    // Prepare: a file that is the last line of its chunk, with members after it.
    const all = await indexLines(store, image);
    const i = chunks.findIndex((c, j) => j < chunks.length - 1 && all.find((l) => l.path === c.last)?.type === 'file');
    const wanted = all.find((l) => l.path === chunks[i]!.last)!;
    const counting = new CountingStore(store);
    const dir = target();

    const result = await restoreImage({ store: counting.store, image, targetDir: dir, paths: [wanted.path] });

    expect(result).toMatchObject({ files: 1, verified: 1, failures: [] });
    expect(readFileSync(path.join(dir, wanted.path)).equals(readFileSync(wanted.path))).toBe(true);
    expect(counting.indexBytes).toBe(chunks[i]!.bytes);
    expect(counting.fragmentBytes).toBe(chunks[i]!.next!.offset - wanted.offset);
  });

  it('restores a directory whose name sorts around "/" from the chunks covering it, and nothing of its neighbours', async () => {
    const counting = new CountingStore(store);
    const dir = target();
    const a = path.join(source.dir, 'g1', 'a');

    const result = await restoreImage({ store: counting.store, image, targetDir: dir, paths: [a] });

    // a, a/b and a/b/c; not a-c or a.d.
    expect(result).toMatchObject({ files: 3, failures: [] });
    expect(readFileSync(path.join(dir, a, 'b', 'c'), 'utf8')).toBe('a/b/c');
    expect(readdirSync(path.join(dir, source.dir, 'g1'))).toEqual(['a']);
    expect(counting.indexBytes).toBeLessThan(indexBytes / 2);
    for (const name of ['a-c', 'a.d']) {
      const one = target();
      await restoreImage({ store, image, targetDir: one, paths: [path.join(source.dir, 'g1', name)] });
      expect(readFileSync(path.join(one, source.dir, 'g1', name), 'utf8')).toBe(name);
    }
  });

  it('refuses a path the index does not hold (227), from the chunks alone', async () => {
    const counting = new CountingStore(store);
    const error = await failureOf(restoreImage({ store: counting.store, image, targetDir: target(), paths: [path.join(source.dir, 'g30', 'nothing-here')] }));
    expect(error.statusCode).toBe(StatusCode.IMAGE_NOT_FOUND);
    expect(counting.indexBytes).toBeLessThan(indexBytes / 2);
  });

  describe('with a damaged or forged index', () => {
    let saved: { index: Buffer; manifest: Buffer };
    beforeAll(async () => {
      saved = { index: await objectBytes(store, copy1(image).indexKey), manifest: await objectBytes(store, copy1(image).manifestKey) };
    });
    const restoreSaved = async (): Promise<void> => {
      await store.put(copy1(image).indexKey, saved.index);
      await store.put(copy1(image).manifestKey, saved.manifest);
    };

    it('fails with a corrupt-image error naming the image and the chunk when a chunk read has a flipped byte', async () => {
      // Prepare: flip a byte in the chunk that holds the file asked for.
      const i = chunks.findIndex((c) => chunkMayHoldPath(c, big()));
      const bytes = Buffer.from(saved.index);
      bytes[chunks[i]!.offset + Math.floor(chunks[i]!.bytes / 2)]! ^= 0x10;
      await store.put(copy1(image).indexKey, bytes);
      try {
        // Act
        const error = await failureOf(restoreImage({ store, image, targetDir: target(), paths: [big()] }));

        // Assess
        expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
        expect(error.message).toContain(`image ${image.backupId} is corrupt`);
        expect(error.message).toContain(`chunk ${i + 1} (bytes ${chunks[i]!.offset}-${chunks[i]!.offset + chunks[i]!.bytes})`);
      } finally {
        await restoreSaved();
      }
    });

    it('refuses a chunk table the catalog does not vouch for (manifest changed with the index)', async () => {
      // Prepare: a forger changes a line in a chunk and updates that chunk's length and sha256 in the manifest.
      const i = chunks.findIndex((c) => chunkMayHoldPath(c, big()));
      const lines = (await indexLines(store, image)).map((l) => (l.path === big() ? { ...l, mode: 0o4755 } : l));
      const { gzipSync } = await import('node:zlib');
      const { createHash } = await import('node:crypto');
      const start = chunks.slice(0, i).reduce((sum, c) => sum + c.entries, 0);
      const member = gzipSync(lines.slice(start, start + chunks[i]!.entries).map((l) => `${JSON.stringify(l)}\n`).join(''));
      const index = Buffer.concat([saved.index.subarray(0, chunks[i]!.offset), member, saved.index.subarray(chunks[i]!.offset + chunks[i]!.bytes)]);
      await store.put(copy1(image).indexKey, index);
      await rewriteManifest(store, image, (m) => {
        const delta = member.length - chunks[i]!.bytes;
        m.indexChunks = m.indexChunks!.map((c, j) => (j === i ? { ...c, bytes: member.length, sha256: createHash('sha256').update(member).digest('hex') } : j > i ? { ...c, offset: c.offset + delta } : c));
      });
      try {
        const error = await failureOf(restoreImage({ store, image, targetDir: target(), paths: [big()] }));
        expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
        expect(error.message).toContain('disagrees with the catalog: indexChunksSha256');
      } finally {
        await restoreSaved();
      }
    });

    it('refuses a manifest that drops the chunk table the catalog has', async () => {
      await rewriteManifest(store, image, (m) => void delete m.indexChunks);
      try {
        const error = await failureOf(restoreImage({ store, image, targetDir: target(), paths: [big()] }));
        expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
        expect(error.message).toContain('indexChunksSha256');
      } finally {
        await restoreSaved();
      }
    });
  });

  it('reads the whole index of an image catalogued without a chunk table (written before chunks), and restores it', async () => {
    // Prepare: the catalog record and manifest as an older Cairn wrote them.
    const { indexChunksSha256: _none, ...oldCopy } = copy1(image);
    const old: Image = { ...image, copies: [oldCopy] };
    const counting = new CountingStore(store);
    const dir = target();

    const result = await restoreImage({ store: counting.store, image: old, targetDir: dir, paths: [big()] });

    expect(result).toMatchObject({ files: 1, verified: 1, failures: [] });
    expect(readFileSync(path.join(dir, big())).equals(readFileSync(big()))).toBe(true);
    expect(counting.indexBytes).toBe(indexBytes);
  });

  it('restores one path of an incremental chain from the chunks of both images', async () => {
    // Prepare: an incremental with one small file changed; the big file is unchanged (its data in the full image).
    const changed = path.join(source.dir, 'g45', 'f3');
    const before = readFileSync(changed);
    writeFileSync(changed, patterned(300, 4242));
    try {
      const task = backupTask(unit.dir, [source.dir], {
        backupId: 'host1_1700003600',
        schedule: 'incr',
        level: 'differential-incremental',
        storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 64 * 1024 * 1024 },
        base: { backupId: image.backupId, indexKey: copy1(image).indexKey, indexSha256: copy1(image).indexSha256, storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 64 * 1024 * 1024 } },
      });
      const final = catalogImage(task, await runBackup(task, { store, openStore: openStorageUnit, reporter: recordingReporter(), now: () => new Date() }));
      expect(copy1(final).indexChunksSha256).toBeDefined();
      const finalIndexBytes = (await objectBytes(store, copy1(final).indexKey)).length;
      const images = new Map([final, image].map((i) => [i.backupId, i]));
      for (const [wanted, from] of [
        [big(), [image.backupId, final.backupId]],
        [changed, [final.backupId]],
      ] as const) {
        const counting = new CountingStore(store);
        const openImage = async (backupId: string) => ({ image: images.get(backupId)!, store: counting.store });
        const dir = target();

        // Act
        const result = await restorePointInTime({ image: final, openImage, targetDir: dir, paths: [wanted] });

        // Assess: the file as it was, and a small part of each index read.
        expect(result).toMatchObject({ files: 1, verified: 1, failures: [], images: from });
        expect(readFileSync(path.join(dir, wanted)).equals(readFileSync(wanted))).toBe(true);
        expect(counting.indexBytes).toBeLessThan((indexBytes + finalIndexBytes) / 4);
      }
    } finally {
      writeFileSync(changed, before);
    }
  }, 120_000);
});

describe('an image of selections listed out of walk order', () => {
  it('gets a chunk per selection, and a one-path restore reads only the chunk of its selection', async () => {
    // Prepare: two selections, the second sorting before the first.
    const source = tempDir('chunks-order-src');
    const unit = tempDir('chunks-order-unit');
    const scratch = tempDir('chunks-order-target');
    try {
      for (const root of ['zz', 'aa']) {
        mkdirSync(path.join(source.dir, root));
        for (let f = 0; f < 20; f++) writeFileSync(path.join(source.dir, root, `f${f}`), patterned(100 + f, f));
      }
      const store = new FsObjectStore(unit.dir);
      const task = backupTask(unit.dir, [path.join(source.dir, 'zz'), path.join(source.dir, 'aa')]);
      const image = catalogImage(task, await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() }));
      const chunks = (await readManifest(store, copy1(image).manifestKey)).indexChunks!;
      expect(chunks.map((c) => [c.first, c.last])).toEqual([
        [path.join(source.dir, 'zz'), path.join(source.dir, 'zz', 'f9')],
        [path.join(source.dir, 'aa'), path.join(source.dir, 'aa', 'f9')],
      ]);
      const counting = new CountingStore(store);
      const wanted = path.join(source.dir, 'aa', 'f7');

      // Act
      const result = await restoreImage({ store: counting.store, image, targetDir: scratch.dir, paths: [wanted] });

      // Assess
      expect(result).toMatchObject({ files: 1, verified: 1, failures: [] });
      expect(readFileSync(path.join(scratch.dir, wanted)).equals(readFileSync(wanted))).toBe(true);
      expect(counting.indexBytes).toBe(chunks[1]!.bytes);
    } finally {
      source.cleanup();
      unit.cleanup();
      scratch.cleanup();
    }
  });
});
