import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BufferPool, throughPool } from '#agent/transport/buffer-pool.ts';
import { recycleAfterCopy } from '#agent/transport/chunk-recycling.ts';

async function* chunksOf(total: number, chunkSize: number, delayMs = 0): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < total; offset += chunkSize) {
    if (delayMs) await sleep(delayMs);
    const size = Math.min(chunkSize, total - offset);
    const chunk = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) chunk[i] = (offset + i) % 251;
    yield chunk;
  }
}

function expectedByte(position: number): number {
  return position % 251;
}

describe('BufferPool', () => {
  it('hands out at most count buffers and makes the reader wait for the next one', async () => {
    // Prepare
    const pool = new BufferPool({ count: 2, sizeBytes: 4096 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(pool.available).toBe(0);
    expect(pool.readerWaits).toBe(0);

    // Act
    let third: Buffer | undefined;
    const waiting = pool.acquire().then((buffer) => (third = buffer));
    await sleep(5);
    const stillWaiting = third === undefined;
    pool.release(a);
    await waiting;

    // Assess
    expect(stillWaiting).toBe(true);
    expect(pool.readerWaits).toBe(1);
    expect(third).toBe(a);
    expect(b.length).toBe(4096);
    expect(() => pool.release(Buffer.alloc(4096))).toThrow(/not from this pool/);
  });

  it('stops a waiting reader when its signal aborts', async () => {
    const pool = new BufferPool({ count: 2, sizeBytes: 4096 });
    await pool.acquire();
    await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});

describe('throughPool', () => {
  it('delivers the bytes unchanged in full buffers using only the pool memory', async () => {
    // Prepare: 20 MiB through 4 buffers of 64 KiB, in odd-sized chunks.
    const pool = new BufferPool({ count: 4, sizeBytes: 64 * 1024 });
    const total = 20 * 1024 * 1024 + 123;
    const slabs = new Set<ArrayBufferLike>();
    const offsets = new Set<number>();
    let position = 0;
    const sizes: number[] = [];

    // Act
    for await (const chunk of throughPool(chunksOf(total, 10_007), pool)) {
      slabs.add(chunk.buffer);
      offsets.add(chunk.byteOffset);
      sizes.push(chunk.byteLength);
      for (let i = 0; i < chunk.byteLength; i += 997) if (chunk[i] !== expectedByte(position + i)) throw new Error(`byte ${position + i} differs`);
      position += chunk.byteLength;
    }

    // Assess: every chunk is one of the preallocated buffers, all full but the last.
    expect(position).toBe(total);
    expect(slabs.size).toBe(1);
    expect(offsets.size).toBeLessThanOrEqual(4);
    expect(sizes.slice(0, -1).every((s) => s === 64 * 1024)).toBe(true);
    expect(pool.available).toBe(4);
  });

  it('does not refill a buffer until the writer asks for the next one', async () => {
    const pool = new BufferPool({ count: 2, sizeBytes: 4096 });
    const seen: Buffer[] = [];
    for await (const chunk of throughPool(chunksOf(64 * 1024, 1000), pool)) {
      const copy = Buffer.from(chunk);
      // Give the reader every chance to overwrite the buffer we hold.
      await sleep(1);
      expect(Buffer.compare(Buffer.from(chunk), copy)).toBe(0);
      seen.push(copy);
    }
    const all = Buffer.concat(seen);
    expect(all.length).toBe(64 * 1024);
    expect(all.every((byte, i) => byte === expectedByte(i))).toBe(true);
  });

  it('counts reader waits when the writer is slow and writer waits when the reader is slow', async () => {
    // Slow writer: the reader finds every buffer full.
    const slowWriter = new BufferPool({ count: 2, sizeBytes: 4096 });
    for await (const _chunk of throughPool(chunksOf(64 * 1024, 4096), slowWriter)) await sleep(2);
    expect(slowWriter.readerWaits).toBeGreaterThan(5);

    // Slow reader: the writer finds no full buffer.
    const slowReader = new BufferPool({ count: 2, sizeBytes: 4096 });
    for await (const _chunk of throughPool(chunksOf(32 * 1024, 4096, 2), slowReader)) {
      // consume at once
    }
    expect(slowReader.writerWaits).toBeGreaterThan(5);
    expect(slowReader.readerWaits).toBe(0);
  });

  it('measures how long each side waited, not only how often', async () => {
    // Slow writer: 16 buffers consumed 2 ms apart through 2 buffers; the reader waits out most of those sleeps.
    const slowWriter = new BufferPool({ count: 2, sizeBytes: 4096 });
    for await (const _chunk of throughPool(chunksOf(64 * 1024, 4096), slowWriter)) await sleep(2);
    expect(slowWriter.readerWait.ms).toBeGreaterThanOrEqual(10);

    // Slow reader: 8 chunks each 2 ms late; the writer waits for every one.
    const slowReader = new BufferPool({ count: 2, sizeBytes: 4096 });
    for await (const _chunk of throughPool(chunksOf(32 * 1024, 4096, 2), slowReader)) {
      // consume at once
    }
    expect(slowReader.writerWait.ms).toBeGreaterThanOrEqual(10);
    expect(slowReader.readerWait.ms).toBe(0);
  });

  it('stops timing a reader wait when its signal aborts', async () => {
    const pool = new BufferPool({ count: 2, sizeBytes: 4096 });
    await pool.acquire();
    await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    const after = pool.readerWait.ms;
    await sleep(5);
    expect(pool.readerWait.ms).toBe(after);
  });

  it('passes a failing source on to the writer and returns every buffer', async () => {
    const pool = new BufferPool({ count: 3, sizeBytes: 4096 });
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(10_000, 1);
      throw new Error('disk on fire');
    }
    const consume = async (): Promise<void> => {
      for await (const _chunk of throughPool(failing(), pool)) {
        // consume
      }
    };
    await expect(consume()).rejects.toThrow('disk on fire');
    expect(pool.available).toBe(3);
  });

  it('ends the source and returns every buffer when the writer stops early', async () => {
    const pool = new BufferPool({ count: 3, sizeBytes: 4096 });
    let sourceEnded = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) yield Buffer.alloc(4096, 2);
      } finally {
        sourceEnded = true;
      }
    }
    let taken = 0;
    for await (const _chunk of throughPool(endless(), pool)) if (++taken === 5) break;
    await sleep(5);
    expect(sourceEnded).toBe(true);
    expect(pool.available).toBe(3);
  });
});

describe('chunk recycling', () => {
  it('gives a registered read buffer back only after the pool copied all of it, so overwriting it at once loses nothing', async () => {
    // Prepare: chunks larger than a pool buffer (each spans three), every one registered; its owner zeroes it the moment it gets it back.
    const pool = new BufferPool({ count: 2, sizeBytes: 4096 });
    const total = 64 * 1024;
    let given = 0;
    async function* registered(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunksOf(total, 10_000)) {
        const own = new ArrayBuffer(chunk.byteLength + 1);
        const view = Buffer.from(own, 0, chunk.byteLength);
        view.set(chunk);
        recycleAfterCopy(own, (back) => {
          expect(back).toBe(own);
          given += 1;
          new Uint8Array(back).fill(0);
        });
        yield view;
      }
    }

    // Act
    const out: number[] = [];
    for await (const piece of throughPool(registered(), pool)) out.push(...piece);

    // Assert
    expect(out.length).toBe(total);
    expect(out.every((byte, i) => byte === expectedByte(i))).toBe(true);
    expect(given).toBe(Math.ceil(total / 10_000));
  });

  it('leaves an unregistered chunk alone', async () => {
    const pool = new BufferPool({ count: 2, sizeBytes: 4096 });
    const out: number[] = [];
    for await (const piece of throughPool(chunksOf(9000, 3000), pool)) out.push(...piece);
    expect(out.every((byte, i) => byte === expectedByte(i))).toBe(true);
  });
});

