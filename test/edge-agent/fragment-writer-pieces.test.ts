import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extract } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { FragmentWriter } from '#agent/image/fragment-writer.ts';
import { objectStoreSinks } from '#agent/image/object-store-fragments.ts';
import { pieceHeader } from '#agent/image/piece-member.ts';
import { recycleAfterCopy } from '#agent/transport/chunk-recycling.ts';
import { BufferPool } from '#agent/transport/buffer-pool.ts';
import { patterned } from './helpers.ts';

/** The members of a tar archive: name and data. */
async function members(archive: Buffer): Promise<Array<{ name: string; data: Buffer }>> {
  const out: Array<{ name: string; data: Buffer }> = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (part: unknown) => void parts.push(part as Buffer));
      stream.on('end', () => {
        out.push({ name: header.name, data: Buffer.concat(parts) });
        next();
      });
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.end(archive);
  await done;
  return out;
}

describe('the fragment writer cutting a chunk between two pieces', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes both parts of a read buffer its reader wants back once copied, without handing it back under the second part', async () => {
    // Prepare: a file of 3 pieces of 1,000 bytes, written as two chunks of 1,500: the first cut at 1,000, the second at 2,000.
    dir = mkdtempSync(path.join(tmpdir(), 'cairn-pieces-cut-'));
    const store = new FsObjectStore(dir);
    const pool = new BufferPool({ count: 4, sizeBytes: 4096 });
    const writer = new FragmentWriter({ sinks: objectStoreSinks(store, (n) => `fragment-${n}.tar`), pool, fragmentSizeBytes: 1 << 30 });
    const content = patterned(3000, 4);
    const spec = { path: '/data/file.bin', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000_000_000_000n, size: 3000 };
    const headers = [0, 1000, 2000].map((offset, k) => pieceHeader(spec, k + 1, offset, 1000));
    let handedBack = 0;

    // Act: each chunk is a read buffer whose owner takes it back once the pool copied it, by transfer (which detaches it).
    const { result } = await writer.addPieces(headers, async (write) => {
      for (const at of [0, 1500]) {
        const buffer = new ArrayBuffer(1500);
        Buffer.from(buffer).set(content.subarray(at, at + 1500));
        recycleAfterCopy(buffer, (back) => {
          handedBack += 1;
          structuredClone(back, { transfer: [back] });
        });
        await write(Buffer.from(buffer));
      }
      return { sha256: createHash('sha256').update(content).digest('hex') };
    });
    await writer.finish();

    // Assess: every piece holds its bytes; the cut buffers were not handed back (the collector frees them).
    expect(result.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    const listed = await members(readFileSync(path.join(dir, 'fragment-1.tar')));
    expect(listed.map((m) => m.name)).toEqual(['data/GNUFileParts/file.bin.1', 'data/GNUFileParts/file.bin.2', 'data/GNUFileParts/file.bin.3']);
    expect(Buffer.concat(listed.map((m) => m.data)).equals(content)).toBe(true);
    expect(handedBack).toBe(0);
  });
});
