import type { FragmentLocation } from '#core/model/image.ts';
import type { FragmentSink, FragmentSinks, WrittenFragment } from '#core/ports/fragment-sink.ts';
import { encodeSeekTable, type FrameEntry } from './seek-table.ts';
import { compressBound, sharedZstdWorkers, type CompressedSlot, type ZstdWorkers } from './zstd-workers.ts';

/**
 * Tar bytes per zstd frame. A ranged read decompresses whole frames, so a
 * 1 MiB file costs at most its size plus two frames of stored bytes (the
 * issue's bound is 2 MiB). The ratio hardly depends on it at level 1: on
 * `bench:compare`'s dataset (scale 0.25, 520 MB of tar) 128 KiB, 256 KiB,
 * 512 KiB and 1 MiB frames all store 62.5% of the tar, as one
 * `zstd -1` stream does (codec/README.md).
 */
export const FRAME_BYTES = 256 * 1024;

export interface ZstdSinkOptions {
  level: number;
  /** Default FRAME_BYTES. */
  frameBytes?: number;
  /** Default: the process's shared workers, one per core. */
  workers?: ZstdWorkers;
}

/**
 * Decorates a copy's fragment sinks so that every fragment is stored
 * compressed, in the zstd seekable format: the tar stream cut into frames
 * of `frameBytes`, each compressed on its own (on the worker threads, a
 * few frames in flight, stored in order), then the seek table. The inner
 * sink stores and counts those bytes as ever, so the fragment's `bytes`
 * are of what is stored (its checksum is the fragment writer's, over the
 * tar stream); the result adds the `encoding` (tar size, frame size) that
 * reads need.
 *
 * Memory: BATCHES_PER_WORKER batches of FRAMES_PER_BATCH frames per
 * worker in flight, plus the one being filled and the one being stored,
 * each in a slot of its tar bytes and their worst-case compressed size
 * (about 12 MiB with two workers and 256 KiB frames), allocated once per
 * fragment and reused.
 */
export function zstdFragmentSinks(inner: FragmentSinks, options: ZstdSinkOptions): FragmentSinks {
  const settings = { level: options.level, frameBytes: options.frameBytes ?? FRAME_BYTES, workers: options.workers ?? sharedZstdWorkers() };
  const innerOf = new WeakMap<FragmentSink, FragmentSink>();
  const wrap = (sink: FragmentSink): FragmentSink => {
    const outer = new ZstdFragmentSink(sink, settings);
    innerOf.set(outer, sink);
    return outer;
  };
  return {
    first: async () => wrap(await inner.first()),
    next: async (full) => wrap(await inner.next(innerOf.get(full) ?? full)),
  };
}

interface Settings {
  level: number;
  frameBytes: number;
  workers: ZstdWorkers;
}

class ZstdFragmentSink implements FragmentSink {
  readonly #inner: FragmentSink;
  readonly #settings: Settings;

  constructor(inner: FragmentSink, settings: Settings) {
    this.#inner = inner;
    this.#settings = settings;
  }

  get endOfMedia(): boolean {
    return this.#inner.endOfMedia;
  }

  async write(number: number, body: AsyncIterable<Uint8Array>): Promise<WrittenFragment> {
    const frames: FrameEntry[] = [];
    const written = await this.#inner.write(number, encode(body, this.#settings, frames));
    const tarBytes = frames.reduce((sum, f) => sum + f.tarBytes, 0);
    return { ...written, encoding: { codec: 'zstd-seekable', tarBytes, frameBytes: this.#settings.frameBytes } };
  }

  discard(location: FragmentLocation): Promise<void> {
    return this.#inner.discard(location);
  }
}

/** Frames sent to a worker in one message (1 MiB of tar with 256 KiB frames). */
const FRAMES_PER_BATCH = 4;

/**
 * Batches in flight per worker. The replies queue behind the main thread's
 * other work (file reads, hashing), so a batch's round trip is longer than
 * its compression (about 1 ms for 1 MiB at level 1); two per worker keep
 * the tar stream flowing meanwhile.
 */
const BATCHES_PER_WORKER = 2;

interface InFlight {
  compressed: Promise<CompressedSlot>;
  tarBytes: number;
}

/**
 * The stored form of `body`: its frames in order, then the seek table.
 * Every chunk is copied into the slot being filled before the next is
 * asked for (the chunks are pooled buffers); `frames` receives each
 * frame's sizes as it is yielded. A compressed frame is yielded as a view
 * of its slot, which is reused once the consumer asked for the chunk after
 * the batch's last frame (the FragmentSink and ObjectStore contracts: a
 * chunk is consumed before the next is asked for, and no reference is kept).
 */
async function* encode(body: AsyncIterable<Uint8Array>, settings: Settings, frames: FrameEntry[]): AsyncGenerator<Uint8Array, void, undefined> {
  const { frameBytes, level, workers } = settings;
  const limit = workers.size * BATCHES_PER_WORKER;
  const batchBytes = frameBytes * FRAMES_PER_BATCH;
  const bound = compressBound(frameBytes);
  const outputAt = batchBytes;
  const slotBytes = batchBytes + bound * FRAMES_PER_BATCH;
  const free: ArrayBuffer[] = [];
  const inFlight: InFlight[] = [];
  let slot = new ArrayBuffer(slotBytes);
  let filling = new Uint8Array(slot, 0, batchBytes);
  let filled = 0;
  const submit = (): void => {
    const compressed = workers.compress({ slot, tarBytes: filled, frameBytes, outputAt, bound }, level);
    // Awaited in order below; until then a failure must not count as unhandled.
    compressed.catch(() => undefined);
    inFlight.push({ compressed, tarBytes: filled });
  };
  async function* settle(keep: number): AsyncGenerator<Uint8Array, void, undefined> {
    while (inFlight.length > keep) {
      const next = inFlight.shift()!;
      const done = await next.compressed;
      for (const [i, compressedBytes] of done.compressedSizes.entries()) {
        frames.push({ compressedBytes, tarBytes: Math.min(frameBytes, next.tarBytes - i * frameBytes) });
        yield new Uint8Array(done.slot, outputAt + i * bound, compressedBytes);
      }
      free.push(done.slot);
    }
  }

  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.byteLength) {
      const take = Math.min(batchBytes - filled, chunk.byteLength - at);
      filling.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === batchBytes) {
        submit();
        slot = free.pop() ?? new ArrayBuffer(slotBytes);
        filling = new Uint8Array(slot, 0, batchBytes);
        filled = 0;
        yield* settle(limit - 1);
      }
    }
  }
  if (filled > 0) submit();
  yield* settle(0);
  yield encodeSeekTable(frames);
}
