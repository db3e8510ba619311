import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Compresses zstd frames on worker threads, one frame per task, so the
 * main thread (tar packing, hashing, the store) never waits on the codec
 * and a backup uses every core as `zstd -T0` does. zstd-napi's calls are
 * synchronous and its libzstd is built without ZSTD_MULTITHREAD (its
 * `nbWorkers` is accepted and ignored), so the parallelism is ours: one
 * worker per core, each frame independent.
 *
 * The worker is an eval'd CommonJS script that loads zstd-napi by its
 * resolved path: `npm run build` bundles the agent into one file, so a
 * worker module next to this one would not exist there.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Compressor } = require(workerData.zstd);
const compressors = new Map();
function compressorFor(level) {
  let c = compressors.get(level);
  if (!c) {
    c = new Compressor();
    c.setParameters({ compressionLevel: level, checksumFlag: true, contentSizeFlag: true });
    compressors.set(level, c);
  }
  return c;
}
parentPort.on('message', ({ id, level, data }) => {
  try {
    const out = compressorFor(level).compress(new Uint8Array(data));
    // Transfer the result without a copy when it owns its ArrayBuffer (large results do).
    const owned = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out.buffer : out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id, data: owned }, [owned]);
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Pending {
  resolve: (compressed: Buffer) => void;
  reject: (error: Error) => void;
}

interface Reply {
  id: number;
  data?: ArrayBuffer;
  error?: string;
}

class CompressWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #failed: Error | undefined;

  constructor(zstdPath: string) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstd: zstdPath } });
    // An idle worker must not keep the agent (or a test run) alive; a busy one must, or a backup waiting only on it would end the process.
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (reply.data) pending.resolve(Buffer.from(reply.data));
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

  compress(id: number, level: number, frame: Uint8Array<ArrayBuffer>): Promise<Buffer> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      // The frame's buffer is handed over, not copied: the caller never touches it again.
      this.#worker.postMessage({ id, level, data: frame.buffer }, [frame.buffer]);
    });
  }
}

/** A fixed set of compression workers shared by every backup of the process. */
export class ZstdWorkers {
  readonly #workers: CompressWorker[] = [];
  readonly #size: number;
  readonly #zstdPath: string;
  #nextId = 0;

  constructor(size = availableParallelism()) {
    this.#size = Math.max(1, size);
    // Resolved as a package (not a path next to this file), so it works from the sources and from the dist/ bundle alike.
    this.#zstdPath = fileURLToPath(import.meta.resolve('zstd-napi'));
  }

  /** Workers, hence frames worth keeping in flight to use them all. */
  get size(): number {
    return this.#size;
  }

  /**
   * The zstd frame of `frame` at `level` (with its content size and
   * checksum). `frame` must own its whole ArrayBuffer: it is transferred
   * to the worker and unusable afterwards.
   */
  compress(frame: Uint8Array<ArrayBuffer>, level: number): Promise<Buffer> {
    return this.#leastBusy().compress(this.#nextId++, level, frame);
  }

  #leastBusy(): CompressWorker {
    // A worker that died is replaced: one bad frame must not disable compression for the process.
    for (let i = 0; i < this.#workers.length; i++) if (!this.#workers[i]!.usable) this.#workers[i] = new CompressWorker(this.#zstdPath);
    if (this.#workers.length < this.#size) {
      const idle = this.#workers.find((w) => w.inFlight === 0);
      if (idle) return idle;
      const worker = new CompressWorker(this.#zstdPath);
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
