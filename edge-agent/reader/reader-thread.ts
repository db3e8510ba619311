import { lstatSync, type BigIntStats } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describeFsError } from './fs-errors.ts';
import type { BusyMeter } from '../transport/busy-meter.ts';
import { recycleAfterCopy } from '../transport/chunk-recycling.ts';
import { MAX_FILE_READS, problemText, UnreadableFileError, type CopyResult, type FileMeters, type PreparedFile } from './file-reader.ts';
import { fsPathOf } from '#core/model/file-name.ts';
import { readerThreadMain, type ChunkReply, type FsErrorData, type LstatFields, type ReaderReply, type ReaderRequest } from './reader-thread-main.ts';

/**
 * Requests that go at once rather than with the turn's batch (see `#post`).
 * An `lstat` is a batch of paths already, and the walk asks for it ahead of
 * need: held for the turn's end it went only when the main thread ran out of
 * work, which made every batch a stall.
 */
const URGENT: ReadonlySet<ReaderRequest['op']> = new Set(['next', 'hashChunk', 'hashEnd', 'lstat']);

/** A hash slot's usual size: a large file's read (large-file.ts's READ_BYTES). */
const SLOT_BYTES = 1024 * 1024;
const MAX_FREE_SLOTS = 4;

/** Read buffers at least this big go back to the thread once copied (chunk-recycling.ts); smaller ones are cheap to leave to the collector. */
const RECYCLE_MIN_BYTES = 64 * 1024;

/**
 * Chunks of a file asked for ahead of the one being written: the thread
 * reads and hashes the next while this one is written, and has the one
 * after that queued, so it never waits for a round trip between chunks.
 */
const CHUNKS_AHEAD = 2;

/** See ReaderThread.blockHasher. */
export interface BlockHasher {
  /** Feeds a chunk that starts on a block boundary; resolves with its blocks' sha256s (32 bytes each). The chunk is copied at once. */
  chunk(data: Uint8Array): Promise<Buffer>;
  /** Feeds a chunk to the whole-content hash only (the caller hashes its blocks); resolves once the thread has hashed it. The chunk is copied at once. */
  feed(data: Uint8Array): Promise<void>;
  /** Feeds `length` zero bytes (a sparse file's hole) to the whole-content hash. */
  zeros(length: number): void;
  /** The whole content's sha256 (hex); the hasher is done. */
  digest(): Promise<string>;
  /** Drops a hash not digested (the file failed or was given up). */
  dispose(): void;
}

/** A read-only block of zeros for the zero-fill of a file that shrank; chunks handed on are never written to. */
const ZEROS = Buffer.alloc(64 * 1024);

/**
 * The client reader's file I/O and content hashing on a thread of its own.
 *
 * Why: on the main thread every small file cost an `open` and a `read`
 * through the libuv thread pool (two hand-offs and two wake-ups each) plus
 * synchronous `fstat`s, and every byte was hashed there; with 20,000 small
 * files that thread was the bottleneck. Here one thread does the whole
 * sequence synchronously (open O_NOFOLLOW|O_NONBLOCK, fstat, check it is the
 * walked file, read, hash, the mtime re-check, close) and hands back filled
 * buffers by transfer, so the main thread only packs and writes. The safety
 * checks and the zero-fill/cut semantics are those of file-reader.ts; the
 * problem texts are worded there.
 *
 * The walk's `lstat`s go there too (`lstat`, a list of paths a request): a
 * promise `lstat` on the main thread cost a thread-pool round trip and a
 * BigIntStats per entry, the biggest item of a small-file backup's profile.
 *
 * Traffic: every request made within one turn of the event loop goes in one
 * message, and the thread answers it with one message (see `#post`), so a
 * read-ahead that asks for several files at once (read-ahead.ts refills in
 * bursts) costs one round trip, not one per file.
 *
 * Memory: what is in flight is what the caller asks for (the read-ahead's
 * first chunks and CHUNKS_AHEAD chunks prefetched for the file being copied); the
 * thread holds no data between requests.
 *
 * The thread keeps the process alive only while a reply is awaited, so a
 * forgotten idle one never does; `close` ends it. A thread that dies fails every request in flight and
 * every later one.
 */
export class ReaderThread {
  readonly #worker: Worker;
  /** Waiters by request id, first in first out: a hash has several chunks in flight under its one id, and the thread answers in order. */
  readonly #pending = new Map<number, Array<{ resolve: (reply: ReaderReply) => void; reject: (error: unknown) => void }>>();
  #nextId = 1;
  #outbox: ReaderRequest[] = [];
  #flushQueued = false;
  /**
   * Shared memory the chunks to hash are copied into, reused: a transferred
   * copy per chunk left the freeing to the thread's garbage collector, which
   * let tens of MiB pile up. In use: the chunks in flight (two at most, see
   * large-file.ts); kept free: MAX_FREE_SLOTS.
   */
  readonly #slots: SharedArrayBuffer[] = [];
  /** Read buffers the pool has copied, to go back to the thread with the next message. */
  #returned: ArrayBuffer[] = [];
  readonly #giveBack = (buffer: ArrayBuffer): void => {
    this.#returned.push(buffer);
  };
  #dead: Error | undefined;
  /** Set by `close`: this owner is done with the thread (it ended, or went idle for the next backup). */
  #closed = false;

  /**
   * A reader thread for a backup: the idle one kept by an agent that asked
   * for it (`keepIdleThread`), or a new one. Starting a thread (Node's
   * worker bootstrap, loading fs and crypto in it) took 40–60 ms here, on
   * the path of the first file read; an agent runs job after job, and
   * keeping one healthy idle thread takes that off every job's.
   */
  static take(): ReaderThread {
    const thread = idleThread;
    idleThread = undefined;
    return thread && !thread.#dead ? thread : new ReaderThread();
  }

  /**
   * From now on `close` keeps a healthy idle thread for the next `take`
   * (one at most; more concurrent backups start their own), and one is
   * started now, at the agent's start-up rather than in its first job. Only
   * long-lived agents call this: an idle thread is unreferenced, so it never
   * keeps a process alive, but a one-shot process has no next job.
   */
  static keepIdleThread(): void {
    keepIdle = true;
    idleThread ??= new ReaderThread();
  }

  /** `worker` and `slots`: a kept idle thread's, handed to its next owner (see `close`). */
  constructor(kept?: { worker: Worker; slots: SharedArrayBuffer[] }) {
    // esbuild's keepNames may wrap nested functions in `__name(...)`; the thread has no such helper, so it gets a no-op one.
    // No execArgv: the thread needs no loader hooks (`--import tsx`), and loading them would cost it a start-up.
    this.#worker = kept?.worker ?? new Worker(`const __name = (target) => target;\n(${readerThreadMain.toString()})();`, { eval: true, execArgv: [] });
    if (kept) this.#slots.push(...kept.slots);
    this.#worker.on('message', this.#onMessage);
    this.#worker.on('error', this.#onError);
    this.#worker.on('exit', this.#onExit);
    // After the listeners: Node refs a worker's message port when its first 'message' listener is added (a kept
    // thread gets its new owner's listener after the old one's went), and an idle thread must never hold the process.
    this.#worker.unref();
  }

  /** The thread's id (Worker.threadId): the same across owners while a kept thread is reused. */
  get threadId(): number {
    return this.#worker.threadId;
  }

  readonly #onMessage = (replies: ReaderReply[]): void => {
    for (const reply of replies) {
      const waiters = this.#pending.get(reply.id);
      const waiter = waiters?.shift();
      if (waiters?.length === 0) this.#pending.delete(reply.id);
      waiter?.resolve(reply);
    }
    if (this.#pending.size === 0) this.#worker.unref();
  };

  readonly #onError = (error: Error): void => this.#fail(new Error(`the reader thread failed: ${error.message}`, { cause: error }));

  readonly #onExit = (code: number): void => this.#fail(new Error(`the reader thread exited (code ${code})`));

  /**
   * Opens a walked file on the thread and reads its first chunk: the
   * thread's PreparedFile (see prepareFile in file-reader.ts for the
   * contract). Rejects with UnreadableFileError for a file that cannot be
   * backed up, and with an Error when the thread itself failed. A file that
   * fits in the first chunk and changes while it is read is read again there,
   * up to `maxReads` reads; `copyTo`'s result says how many it took.
   */
  async prepare(sourcePath: string, walked: { dev: bigint; ino: bigint }, chunkBytes: number, meters: FileMeters, maxReads = MAX_FILE_READS): Promise<PreparedFile> {
    const id = this.#nextId++;
    const reply = await meters.read.track(() => this.#request({ op: 'open', id, path: fsPathOf(sourcePath), dev: walked.dev, ino: walked.ino, chunkBytes, maxReads }));
    if ('replaced' in reply) throw new UnreadableFileError('replaced during backup');
    if ('error' in reply) throw new UnreadableFileError(reply.at === 'open' ? describeFsError(asError(reply.error), 'vanished during backup') : describeFsError(asError(reply.error)), { cause: asError(reply.error) });
    const first = this.#chunk(reply);
    const stats = first.stats!;
    meters.hash.add(first.hashMs);
    let head: ChunkReply | undefined = first;
    let open = !first.done;
    const close = (): void => {
      if (open && !this.#dead) this.#post({ op: 'close', id });
      open = false;
    };
    return {
      stats,
      copyTo: async (write, signal) => {
        if (!head) throw new Error('copyTo called twice');
        let current: ChunkReply = head;
        head = undefined;
        // Chunks asked for and not yet taken, in order (CHUNKS_AHEAD). `asked` counts the bytes they will hold at most.
        const ahead: Array<Promise<ChunkReply>> = [];
        let asked = current.length;
        const size = Number(stats.size);
        try {
          for (;;) {
            // Ask for the next chunks before writing this one: the thread reads while we write. Never past the size
            // (a file that shrank ends earlier: a `next` after its end gets a `bug` reply, dropped below), but always
            // one while the file is not done: a short read (a file being truncated) leaves `asked` ahead of the thread.
            while (!current.done && ahead.length < CHUNKS_AHEAD && (asked < size || ahead.length === 0)) {
              const next = this.#next(id, meters);
              next.catch(() => undefined);
              ahead.push(next);
              asked += chunkBytes;
            }
            if (current.length > 0) {
              if (current.data.byteLength >= RECYCLE_MIN_BYTES) recycleAfterCopy(current.data, this.#giveBack);
              await write(Buffer.from(current.data, 0, current.length));
            }
            const prefetch: Promise<ChunkReply> | undefined = current.done ? undefined : ahead.shift();
            if (!prefetch) break;
            signal?.throwIfAborted();
            current = await prefetch;
          }
          open = false;
          for (let left = current.zeros ?? 0; left > 0; left -= ZEROS.length) await write(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
          const result: CopyResult = { sha256: current.sha256! };
          if (current.problem) result.problem = problemText(current.problem.kind === 'read-failed' ? { ...current.problem, error: asError(current.problem.error) } : current.problem);
          if (current.problem && current.problem.kind !== 'read-failed') result.changed = true;
          if (current.reads !== undefined) result.reads = current.reads;
          return result;
        } finally {
          close();
        }
      },
      dispose: async () => {
        head = undefined;
        close();
      },
    };
  }

  /**
   * `lstat`s of `paths` (no symlink followed), in order: each a BigIntStats
   * as `fs.lstat(path, { bigint: true })` gives it, or the error (with its
   * errno code) that lstat failed with.
   */
  async lstat(paths: string[]): Promise<Array<{ stats: BigIntStats } | { error: Error }>> {
    // A name that is not UTF-8 goes as its bytes (a Uint8Array, which fs takes as a path on the other side).
    const reply = await this.#request({ op: 'lstat', id: this.#nextId++, paths: paths.map(fsPathOf) });
    if (!('results' in reply)) throw new Error('bug' in reply ? reply.bug : 'the reader thread answered an lstat with something else');
    return reply.results.map((result) => ('stats' in result ? { stats: asBigIntStats(result.stats) } : { error: asError(result.error) }));
  }

  /**
   * A whole-content sha256, with block sha256s for the chunks fed by
   * `chunk`, computed on the thread (for large files, see large-file.ts):
   * the main thread only copies each chunk over (into shared memory).
   * `hashMs` of the thread's replies goes to `meter`.
   */
  blockHasher(blockBytes: number, meter: BusyMeter): BlockHasher {
    const id = this.#nextId++;
    let open = true;
    this.#post({ op: 'hashStart', id, blockBytes });
    const send = async (data: Uint8Array, blocks: boolean): Promise<ArrayBuffer> => {
      // A copy into shared memory, made now: the caller's buffer is reused or written out meanwhile.
      // Buffer#copy (a memcpy), not TypedArray#set: from a buffer just read into on this thread `set` cost about 1.5 ms a MiB here, `copy` 0.1 (bench/README.md, What limits Cairn here).
      const slot = this.#takeSlot(data.byteLength);
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(Buffer.from(slot, 0, data.byteLength));
      let reply: ReaderReply;
      try {
        reply = await this.#request(blocks ? { op: 'hashChunk', id, data: slot, length: data.byteLength } : { op: 'hashChunk', id, data: slot, length: data.byteLength, blocks: false });
      } finally {
        // The thread answers after hashing: the slot is free again.
        if (this.#slots.length < MAX_FREE_SLOTS) this.#slots.push(slot);
      }
      if (!('blockHashes' in reply)) throw new Error('bug' in reply ? reply.bug : 'the reader thread answered a hash with something else');
      meter.add(reply.hashMs);
      return reply.blockHashes;
    };
    return {
      chunk: async (data) => Buffer.from(await send(data, true)),
      feed: async (data) => void (await send(data, false)),
      zeros: (length) => {
        if (length > 0) this.#post({ op: 'hashZeros', id, length });
      },
      digest: async () => {
        open = false;
        const reply = await this.#request({ op: 'hashEnd', id });
        if (!('wholeSha256' in reply)) throw new Error('bug' in reply ? reply.bug : 'the reader thread answered a hash with something else');
        meter.add(reply.hashMs);
        return reply.wholeSha256;
      },
      dispose: () => {
        if (open && !this.#dead) this.#post({ op: 'close', id });
        open = false;
      },
    };
  }

  /** A free shared slot of at least `bytes` (see `blockHasher`), or a new one. */
  #takeSlot(bytes: number): SharedArrayBuffer {
    const at = this.#slots.findIndex((slot) => slot.byteLength >= bytes);
    if (at !== -1) return this.#slots.splice(at, 1)[0]!;
    return new SharedArrayBuffer(Math.max(bytes, SLOT_BYTES));
  }

  /**
   * Ends this owner's use of the thread; requests in flight reject. The
   * thread ends, or, when the agent keeps an idle one (`keepIdleThread`),
   * none is kept yet and this one is healthy with nothing in flight, it is
   * reset (its files closed, its hashes dropped) and kept for the next
   * `take`. A second call does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (keepIdle && idleThread === undefined && !this.#dead && this.#pending.size === 0) {
      this.#post({ op: 'reset' });
      this.flush();
      // This owner's handle is spent: a late call on it fails and never reaches the thread's next owner, nor do its listeners.
      this.#dead = new Error('the reader thread was closed');
      this.#worker.off('message', this.#onMessage);
      this.#worker.off('error', this.#onError);
      this.#worker.off('exit', this.#onExit);
      idleThread = new ReaderThread({ worker: this.#worker, slots: this.#slots.splice(0) });
      return;
    }
    this.#fail(new Error('the reader thread was closed'));
    await this.#worker.terminate();
  }

  async #next(id: number, meters: FileMeters): Promise<ChunkReply> {
    const reply = this.#chunk(await meters.read.track(() => this.#request({ op: 'next', id })));
    meters.hash.add(reply.hashMs);
    return reply;
  }

  #chunk(reply: ReaderReply): ChunkReply {
    if ('data' in reply) return reply;
    throw new Error('bug' in reply ? reply.bug : 'the reader thread answered a read with a failure to open');
  }

  #request(request: Exclude<ReaderRequest, { op: 'recycle' | 'reset' }>): Promise<ReaderReply> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      // Referenced while a reply is awaited: a backup waiting only on its reader must not let the process end.
      if (this.#pending.size === 0) this.#worker.ref();
      const waiters = this.#pending.get(request.id);
      if (waiters) waiters.push({ resolve, reject });
      else this.#pending.set(request.id, [{ resolve, reject }]);
      this.#post(request);
    });
  }

  /**
   * Queues a request; what is queued in one turn of the event loop goes as
   * one message. `setImmediate`, not a microtask: a burst of read-ahead
   * opens is made across several promise hops (the walk is an async
   * generator), which a microtask flush would split into one message each.
   * A request someone is waiting on right now (the next chunk of the file
   * being copied, a large file's hash) is `urgent`: it goes at once, with
   * whatever is queued before it, since waiting for the turn to end cost
   * medium files more than the batching saved. A caller that knows its burst
   * is complete calls `flush` (read-ahead.ts after a refill): the turn ends
   * only when the main thread has nothing left to do, so a burst left for
   * it reached the thread only once the main thread was already waiting.
   */
  #post(request: ReaderRequest): void {
    this.#outbox.push(request);
    if (URGENT.has(request.op)) return this.flush();
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => {
      this.#flushQueued = false;
      this.flush();
    });
  }

  /** Sends what is queued now, as one message. */
  flush(): void {
    if (this.#outbox.length === 0) return;
    const batch = this.#outbox;
    this.#outbox = [];
    if (this.#dead) return;
    // Copied read buffers ride along with the requests that will need them.
    const buffers = this.#returned;
    if (buffers.length > 0) {
      this.#returned = [];
      batch.unshift({ op: 'recycle', buffers });
    }
    this.#worker.postMessage(batch, buffers);
  }

  #fail(error: Error): void {
    this.#dead ??= error;
    for (const waiters of this.#pending.values()) for (const waiter of waiters) waiter.reject(this.#dead);
    this.#pending.clear();
  }
}

/** The healthy idle thread an agent keeps for its next backup (ReaderThread.keepIdleThread). */
let idleThread: ReaderThread | undefined;
let keepIdle = false;

/** A file-system error rebuilt from what crossed the thread boundary, for describeFsError. */
function asError(data: FsErrorData): Error {
  return Object.assign(new Error(data.message), data.code === undefined ? {} : { code: data.code });
}

/**
 * A BigIntStats rebuilt from the fields that crossed the thread boundary:
 * the prototype of a real one (so `isDirectory()` and the other mode tests
 * are Node's own), the fields as Node sets them, and the Date fields made on
 * demand (nothing in the data path reads them).
 */
function asBigIntStats(fields: LstatFields): BigIntStats {
  const stats = Object.create(walkStatsPrototype()) as Record<string, unknown>;
  Object.assign(stats, fields);
  stats.atimeMs = fields.atimeNs / NS_PER_MS;
  stats.mtimeMs = fields.mtimeNs / NS_PER_MS;
  stats.ctimeMs = fields.ctimeNs / NS_PER_MS;
  stats.birthtimeMs = fields.birthtimeNs / NS_PER_MS;
  return stats as unknown as BigIntStats;
}

const NS_PER_MS = 1_000_000n;
let prototype: object | undefined;

function walkStatsPrototype(): object {
  if (prototype) return prototype;
  const dateOf = (field: string) => ({
    get(this: Record<string, bigint>): Date {
      return new Date(Number(this[field]!) / 1e6);
    },
  });
  prototype = Object.create(Object.getPrototypeOf(lstatSync('/', { bigint: true })) as object, {
    atime: dateOf('atimeNs'),
    mtime: dateOf('mtimeNs'),
    ctime: dateOf('ctimeNs'),
    birthtime: dateOf('birthtimeNs'),
  }) as object;
  return prototype;
}
