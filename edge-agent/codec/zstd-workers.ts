import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { zstdBindingPath } from './zstd-binding.ts';

/**
 * Compresses zstd frames on worker threads, one frame per task, so the
 * main thread (tar packing, hashing, the store) never waits on the codec
 * and a backup uses every core as `zstd -T0` does. zstd-napi's calls are
 * synchronous and its libzstd is built without ZSTD_MULTITHREAD (its
 * `nbWorkers` is accepted and ignored), so the parallelism is ours: one
 * worker per core, each frame independent.
 *
 * The worker is an eval'd CommonJS script that loads zstd-napi's native
 * binding by its resolved path: `npm run build` bundles the agent into one
 * file, so a worker module next to this one would not exist there.
 *
 * Frames travel in batches, each in a slot: one ArrayBuffer holding the
 * tar bytes and room for the compressed frames (SlotJob). A slot is
 * transferred to the worker and back (never copied), the worker compresses
 * from one part into the other (ZSTD_compress2, frame by frame), and the
 * caller reuses the slot: a backup allocates a handful of slots, not two
 * buffers per frame, and sends one message per batch, not per frame (each
 * message wakes a thread: on a busy 2-core machine, per-frame messages
 * cost the main thread more than the copies they avoid).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { CCtx, CParameter } = require(workerData.binding);
const contexts = new Map();
function contextFor(level) {
  let cctx = contexts.get(level);
  if (!cctx) {
    cctx = new CCtx();
    cctx.setParameter(CParameter.compressionLevel, level);
    cctx.setParameter(CParameter.checksumFlag, 1);
    cctx.setParameter(CParameter.contentSizeFlag, 1);
    contexts.set(level, cctx);
  }
  return cctx;
}
parentPort.on('message', ({ id, level, slot, tarBytes, frameBytes, outputAt, bound }) => {
  try {
    const cctx = contextFor(level);
    const compressedSizes = [];
    for (let i = 0; i * frameBytes < tarBytes; i++) {
      const src = new Uint8Array(slot, i * frameBytes, Math.min(frameBytes, tarBytes - i * frameBytes));
      compressedSizes.push(cctx.compress2(new Uint8Array(slot, outputAt + i * bound, bound), src));
    }
    parentPort.postMessage({ id, slot, compressedSizes }, [slot]);
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/**
 * A batch of frames to compress, in one slot: the tar bytes from 0 (frame
 * i at `i × frameBytes`), and from `outputAt` room for each frame's worst
 * case (`bound`, ZSTD_COMPRESSBOUND of a frame; frame i at `outputAt + i × bound`).
 */
export interface SlotJob {
  slot: ArrayBuffer;
  tarBytes: number;
  frameBytes: number;
  outputAt: number;
  bound: number;
}

/** A compressed batch: the slot it came in, and each frame's compressed size (frame i at `outputAt + i × bound`). */
export interface CompressedSlot {
  slot: ArrayBuffer;
  compressedSizes: number[];
}

interface Pending {
  resolve: (compressed: CompressedSlot) => void;
  reject: (error: Error) => void;
}

interface Reply {
  id: number;
  slot?: ArrayBuffer;
  compressedSizes?: number[];
  error?: string;
}

/** zstd.h's ZSTD_COMPRESSBOUND: the largest frame `tarBytes` can compress to. */
export function compressBound(tarBytes: number): number {
  const small = 128 * 1024;
  return tarBytes + (tarBytes >>> 8) + (tarBytes < small ? (small - tarBytes) >>> 11 : 0);
}

class CompressWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #failed: Error | undefined;

  constructor(bindingPath: string) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { binding: bindingPath } });
    // An idle worker must not keep the agent (or a test run) alive; a busy one must, or a backup waiting only on it would end the process.
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (reply.slot && reply.compressedSizes) pending.resolve({ slot: reply.slot, compressedSizes: reply.compressedSizes });
      else pending.reject(new Error(`zstd compression failed: ${reply.error ?? 'no reason given'}`));
    });
    const fail = (error: Error): void => {
      this.#failed = error;
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
    this.#worker.on('error', (error) => fail(new Error(`the zstd worker failed: ${error.message}`, { cause: error })));
    this.#worker.on('exit', (code) => fail(new Error(`the zstd worker exited (code ${code})`)));
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  get usable(): boolean {
    return this.#failed === undefined;
  }

  compress(id: number, level: number, job: SlotJob): Promise<CompressedSlot> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      // The slot is handed over, not copied: the caller gets it back with the reply.
      this.#worker.postMessage({ id, level, ...job }, [job.slot]);
    });
  }
}

/** A fixed set of compression workers shared by every backup of the process. */
export class ZstdWorkers {
  readonly #workers: CompressWorker[] = [];
  readonly #size: number;
  readonly #bindingPath: string;
  #nextId = 0;

  constructor(size = availableParallelism()) {
    this.#size = Math.max(1, size);
    // Found on first use (zstd-binding.ts): the bundled agent may run without it.
    this.#bindingPath = zstdBindingPath();
  }

  /** Workers, hence frames worth keeping in flight to use them all. */
  get size(): number {
    return this.#size;
  }

  /**
   * Compresses the slot's `tarBytes` at `level`, each `frameBytes` of them
   * into one zstd frame (with its content size and checksum), written in
   * the same slot (see SlotJob). The slot is transferred: unusable until it
   * comes back in the result.
   */
  compress(job: SlotJob, level: number): Promise<CompressedSlot> {
    return this.#leastBusy().compress(this.#nextId++, level, job);
  }

  #leastBusy(): CompressWorker {
    // A worker that died is replaced: one bad frame must not disable compression for the process.
    for (let i = 0; i < this.#workers.length; i++) if (!this.#workers[i]!.usable) this.#workers[i] = new CompressWorker(this.#bindingPath);
    if (this.#workers.length < this.#size) {
      const idle = this.#workers.find((w) => w.inFlight === 0);
      if (idle) return idle;
      const worker = new CompressWorker(this.#bindingPath);
      this.#workers.push(worker);
      return worker;
    }
    return this.#workers.reduce((best, w) => (w.inFlight < best.inFlight ? w : best));
  }
}

let shared: ZstdWorkers | undefined;

/** The process's compression workers, started on first use. */
export function sharedZstdWorkers(): ZstdWorkers {
  shared ??= new ZstdWorkers();
  return shared;
}
