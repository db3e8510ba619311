import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { encodeSeekTable } from '#agent/codec/seek-table.ts';
import { zstdFragmentSinks } from '#agent/codec/zstd-fragment-sinks.ts';
import { compressBound, ZstdWorkers } from '#agent/codec/zstd-workers.ts';
import { objectStoreFragmentSource, objectStoreSinks } from '#agent/image/object-store-fragments.ts';
import type { Fragment } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { readAll } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MemoryObjectStore } from '#test/memory/memory-object-store.ts';
import { failureOf, patterned, tempDir } from './helpers.ts';

const KiB = 1024;
const FRAME = 64 * KiB;
const hasZstd = spawnSync('zstd', ['--version']).status === 0;
const GNU_TAR = '/usr/bin/tar';
const hasGnuTar = existsSync(GNU_TAR) && execFileSync(GNU_TAR, ['--version']).toString().includes('GNU tar');

/** Counts the stored bytes every `get` yields, to prove what a ranged read touches. */
class CountingStore extends MemoryObjectStore {
  bytesRead = 0;
  gets = 0;
  override async get(key: string, range?: { start: number; end?: number }): Promise<AsyncIterable<Uint8Array>> {
    const body = await super.get(key, range);
    this.gets += 1;
    const count = (n: number): void => void (this.bytesRead += n);
    return (async function* () {
      for await (const chunk of body) {
        count(chunk.byteLength);
        yield chunk;
      }
    })();
  }
}

/** Writes `tar` (in odd-sized chunks, as the writer's pooled buffers come) as fragment 1, compressed; returns the catalog's fragment. */
async function writeCompressed(store: ObjectStore, tar: Buffer, frameBytes = FRAME): Promise<Fragment> {
  const sinks = zstdFragmentSinks(objectStoreSinks(store, (n) => `images/c_1/fragment-${n}.tar.zst`), { level: 1, frameBytes });
  const sink = await sinks.first();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const reused = Buffer.alloc(10_000);
    for (let at = 0; at < tar.length; at += reused.length) {
      const n = tar.copy(reused, 0, at, Math.min(at + reused.length, tar.length));
      yield reused.subarray(0, n);
      // The sink must not hold on to a chunk once it asks for the next: scribble over it.
      reused.fill(0xee);
    }
  }
  const written = await sink.write(1, chunks());
  // Without the fragment writer there is no tar-members-1 checksum: the record carries the stored bytes' sha256 (`checksum` absent), which a whole read checks itself.
  if (written.location.kind !== 'object') throw new Error('an object store wrote a fragment elsewhere');
  const stored = await readAll(await store.get(written.location.key));
  return { number: 1, ...written, sha256: createHash('sha256').update(stored).digest('hex') };
}

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  return readAll(body);
}

/** A tar archive of `files`, as the writer would produce it. */
async function tarOf(files: Array<[string, Buffer]>): Promise<Buffer> {
  const pack = tarPack();
  const out = readAll(pack as unknown as AsyncIterable<Uint8Array>);
  for (const [name, content] of files) pack.entry({ name, size: content.length, mode: 0o644, mtime: new Date(1_600_000_000_000) }, content);
  pack.finalize();
  return out;
}

const tmp = tempDir('zstd');
afterAll(() => tmp.cleanup());

describe('compressed fragments (zstd seekable format)', () => {
  it('store independent frames and a seek table, record the encoding, and read back the exact tar archive', async () => {
    const store = new MemoryObjectStore();
    const tar = Buffer.concat([patterned(300 * KiB, 1), Buffer.alloc(200 * KiB), randomBytes(77 * KiB)]);
    const fragment = await writeCompressed(store, tar);
    const stored = await readAll(await store.get(fragment.location.kind === 'object' ? fragment.location.key : ''));
    expect(fragment.encoding).toEqual({ codec: 'zstd-seekable', tarBytes: tar.length, frameBytes: FRAME });
    expect(fragment.bytes).toBe(stored.length);
    // Seekable magic at the very end; 9 frames (577 KiB / 64 KiB) in the footer.
    expect(stored.readUInt32LE(stored.length - 4)).toBe(0x8f92eab1);
    expect(stored.readUInt32LE(stored.length - 9)).toBe(Math.ceil(tar.length / FRAME));
    expect(stored.length).toBeLessThan(tar.length);
    const source = objectStoreFragmentSource(store, 'disk1');
    expect((await bytesOf(await source.read(fragment))).equals(tar)).toBe(true);
  });

  it('ranged reads yield exactly the tar bytes of the range and read only the seek table and the covering frames', async () => {
    const store = new CountingStore();
    // Incompressible, so every frame's stored size is about its tar size and "only the covering frames" is measurable.
    const tar = randomBytes(40 * FRAME + 1234);
    const fragment = await writeCompressed(store, tar);
    const source = objectStoreFragmentSource(store, 'disk1');
    const cases: Array<[number, number]> = [
      [0, 1],
      [FRAME - 1, FRAME + 1],
      [5 * FRAME, 6 * FRAME],
      [10 * FRAME + 17, 13 * FRAME + 3],
      [tar.length - 10, tar.length + 5000],
      [tar.length + 10, tar.length + 20],
      [700, 700],
    ];
    for (const [start, end] of cases) {
      store.bytesRead = 0;
      const got = await bytesOf(await source.read(fragment, { start, end }));
      expect(got.equals(tar.subarray(start, Math.min(end, tar.length))), `range ${start}-${end}`).toBe(true);
      const empty = end <= start || start >= tar.length;
      const first = Math.floor(start / FRAME);
      const last = Math.floor((Math.min(end, tar.length) - 1) / FRAME);
      const frames = empty ? 0 : last - first + 1;
      const coveredTar = empty ? 0 : Math.min((last + 1) * FRAME, tar.length) - first * FRAME;
      const table = 8 + 8 * Math.ceil(tar.length / FRAME) + 9;
      // Each incompressible frame stores its bytes plus a few bytes of frame header and checksum.
      expect(store.bytesRead, `range ${start}-${end}`).toBeLessThanOrEqual(table + coveredTar + frames * 64);
      expect(store.bytesRead, `range ${start}-${end}`).toBeGreaterThanOrEqual(table + coveredTar);
    }
  });

  it('do not grow incompressible data by more than the frame and seek table overhead', async () => {
    const store = new MemoryObjectStore();
    const tar = randomBytes(1024 * KiB);
    const fragment = await writeCompressed(store, tar, 256 * KiB);
    // zstd stores an incompressible block raw: a frame header, block headers and the 4-byte checksum per frame.
    expect(fragment.bytes - tar.length).toBeLessThanOrEqual(4 * 32 + (8 + 4 * 8 + 9));
  });

  it('GNU tar and the zstd CLI read a compressed fragment (the seek table is a skippable frame)', async (context) => {
    if (!hasZstd) return context.skip('the zstd CLI is not installed');
    if (!hasGnuTar) return context.skip('GNU tar is not installed at /usr/bin/tar');
    const store = new MemoryObjectStore();
    const files: Array<[string, Buffer]> = [
      ['a/one.bin', patterned(150 * KiB, 3)],
      ['a/two.txt', Buffer.from('two\n')],
      ['b/three.bin', randomBytes(90 * KiB)],
    ];
    const tar = await tarOf(files);
    const fragment = await writeCompressed(store, tar);
    const file = path.join(tmp.dir, 'fragment-00001.tar.zst');
    writeFileSync(file, await readAll(await store.get('images/c_1/fragment-1.tar.zst')));
    const listed = execFileSync('sh', ['-c', `zstd -dc "${file}" | ${GNU_TAR} -tf -`]).toString().trim().split('\n');
    expect(listed).toEqual(files.map(([name]) => name));
    const whole = execFileSync('zstd', ['-dc', file]);
    expect(whole.equals(tar)).toBe(true);
    expect(fragment.encoding?.tarBytes).toBe(tar.length);
  });

  it('a compression that fails in its worker rejects with the reason, and the worker goes on', async () => {
    const workers = new ZstdWorkers(1);
    const bound = compressBound(1024);
    // A slot without room for the output.
    await expect(workers.compress({ slot: new ArrayBuffer(1024), tarBytes: 1024, frameBytes: 1024, outputAt: 1024, bound }, 1)).rejects.toThrow(/^zstd compression failed: /);
    const slot = new ArrayBuffer(1024 + bound);
    new Uint8Array(slot, 0, 1024).fill(7);
    const done = await workers.compress({ slot, tarBytes: 1024, frameBytes: 1024, outputAt: 1024, bound }, 1);
    expect(decompress(new Uint8Array(done.slot, 1024, done.compressedSizes[0]))).toEqual(Buffer.alloc(1024, 7));
  });

  describe('refuse corrupt input with 2001, naming the fragment and the frame', () => {
    const tar = Buffer.concat([patterned(5 * FRAME, 5), randomBytes(FRAME / 2)]);

    async function corrupted(damage: (stored: Buffer) => Buffer, fragmentChange: (f: Fragment) => Fragment = (f) => f): Promise<{ fragment: Fragment; source: ReturnType<typeof objectStoreFragmentSource> }> {
      const store = new MemoryObjectStore();
      const fragment = await writeCompressed(store, tar);
      const key = 'images/c_1/fragment-1.tar.zst';
      const stored = await readAll(await store.get(key));
      await store.put(key, damage(Buffer.from(stored)));
      return { fragment: fragmentChange(fragment), source: objectStoreFragmentSource(store, 'disk1') };
    }

    it('a flipped byte inside a frame, read whole or by range', async () => {
      const { fragment, source } = await corrupted((stored) => {
        // Inside frame 2: past frames 0 and 1, whatever their compressed sizes (the seek table's entries say).
        const entries = stored.length - 9 - 8 * 6;
        const sizes = Array.from({ length: 6 }, (_, i) => stored.readUInt32LE(entries + 8 * i));
        const target = sizes[0]! + sizes[1]! + Math.floor(sizes[2]! / 2);
        stored[target] = stored[target]! ^ 0x40;
        return stored;
      });
      const whole = await failureOf(bytesOf(await source.read(fragment)));
      expect(whole.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(whole.message).toMatch(/fragment 1 \(images\/c_1\/fragment-1\.tar\.zst\), frame 2 \(tar bytes 131072-196608/);
      const ranged = await failureOf(bytesOf(await source.read(fragment, { start: 2 * FRAME + 10, end: 2 * FRAME + 20 })));
      expect(ranged.message).toMatch(/frame 2 /);
      // Frames before the damage still read.
      expect((await bytesOf(await source.read(fragment, { start: 0, end: 2 * FRAME }))).equals(tar.subarray(0, 2 * FRAME))).toBe(true);
    });

    it('a forged seek table (frame sizes moved, frame count, magic)', async () => {
      const tableAt = (stored: Buffer): number => stored.length - 9 - 8 * 6 - 8;
      const moved = await corrupted((stored) => {
        const at = tableAt(stored) + 8;
        // Frame 0 one byte shorter, frame 1 one byte longer: the total still fits, the frames do not.
        stored.writeUInt32LE(stored.readUInt32LE(at) - 1, at);
        stored.writeUInt32LE(stored.readUInt32LE(at + 8) + 1, at + 8);
        return stored;
      });
      const error = await failureOf(bytesOf(await moved.source.read(moved.fragment, { start: 0, end: 10 })));
      expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(error.message).toMatch(/frame 0 .*(does not decompress|decompresses to)/);

      const count = await corrupted((stored) => {
        stored.writeUInt32LE(7, stored.length - 9);
        return stored;
      });
      expect((await failureOf(count.source.read(count.fragment))).message).toMatch(/fragment 1 .* has a bad seek table: it lists 7 frames where 360448 tar bytes make 6/);

      const magic = await corrupted((stored) => {
        stored[stored.length - 1] = 0;
        return stored;
      });
      expect((await failureOf(magic.source.read(magic.fragment, { start: 0, end: 1 }))).message).toMatch(/bad seek table: it does not end with the seekable magic number/);

      const tarSize = await corrupted((s) => s, (f) => ({ ...f, encoding: { ...f.encoding!, tarBytes: f.encoding!.tarBytes - 1 } }));
      expect((await failureOf(tarSize.source.read(tarSize.fragment))).message).toMatch(/frame 5 holds 32768 tar bytes, not 32767/);
    });

    it('a frame that claims more than its tar span (a zip bomb) fails without inflating it', async () => {
      // Prepare: one frame of 64 MiB of zeros (a few KiB compressed) where the table says 64 KiB, catalog resealed to match.
      const bomb = compress(Buffer.alloc(64 * 1024 * KiB), { checksumFlag: true });
      const stored = Buffer.concat([bomb, encodeSeekTable([{ compressedBytes: bomb.length, tarBytes: FRAME }])]);
      const store = new MemoryObjectStore();
      await store.put('images/c_1/fragment-1.tar.zst', stored);
      const fragment: Fragment = {
        number: 1,
        bytes: stored.length,
        sha256: createHash('sha256').update(stored).digest('hex'),
        location: { kind: 'object', key: 'images/c_1/fragment-1.tar.zst' },
        encoding: { codec: 'zstd-seekable', tarBytes: FRAME, frameBytes: FRAME },
      };
      // Act
      const error = await failureOf(bytesOf(await objectStoreFragmentSource(store, 'disk1').read(fragment)));
      // Assess
      expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(error.message).toMatch(/frame 0 \(tar bytes 0-65536, stored at 0-\d+\) does not decompress: .*too small/i);
    });

    it('a truncated object, and stored bytes whose sha256 is not the catalog\'s', async () => {
      const truncated = await corrupted((stored) => stored.subarray(0, stored.length - 100));
      const error = await failureOf(truncated.source.read(truncated.fragment));
      expect(error.statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect(error.message).toMatch(/fragment 1 .*bad seek table/);

      const forgedSha = await corrupted((s) => s, (f) => ({ ...f, sha256: 'f'.repeat(64) }));
      const sha = await failureOf(bytesOf(await forgedSha.source.read(forgedSha.fragment)));
      expect(sha.message).toMatch(/fragment 1 .*: the stored fragment is \d+ bytes as expected, with sha256 [0-9a-f]{64} where the catalog says f{64}/);
    });
  });
});
