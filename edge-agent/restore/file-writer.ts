import { unlink } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

/**
 * Writes small restored files on a worker thread, in batches, with
 * synchronous file system calls: one message per batch instead of the six
 * thread-pool round trips per file (open, write, fchmod, futimes, close,
 * rename) that made a restore of many small files spend its time handing
 * work to libuv and waking up for the answers, while the main thread goes
 * on parsing the next members.
 *
 * The worker also checks a file's sha256 before it opens anything when it
 * is given one (the extractor had no digest of the bytes: ranged reads,
 * older fragments; with `tar-members-1` the fragment check's digest was
 * checked on the main thread already), so a file that fails its check is
 * never written. Each file is written exactly as TarExtractor writes one:
 * a fresh temporary name next to the final one (O_CREAT|O_EXCL|O_NOFOLLOW),
 * owner, mode and times set on the open file, then rename(2) over the
 * final name (which replaces a file or symlink there without following it
 * and fails on a directory). The parents were checked when the member was
 * parsed; a batch waits a little before it is written, so the worker checks
 * them again (lstat, once per directory and batch) and refuses a file whose
 * parent has become a symlink meanwhile, as the parser would have. A file that fails is closed and its temporary
 * name removed, and the rest of its batch is not begun (unless it failed
 * only because the file system cannot hold its name).
 *
 * The worker is an eval'd CommonJS script, so it runs the same from the
 * sources and from the dist/ bundle (codec/zstd-workers.ts does the same).
 */
const WORKER_SOURCE = `
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const aborted = new Int32Array(workerData.abort);
const C = fs.constants;
const FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
// Why a file's parent inside the target cannot be used now (a symlink or no directory), or undefined; each checked once per batch.
function parentProblem(root, absolute, checked) {
  const segments = path.relative(root, path.dirname(absolute)).split(path.sep).filter((s) => s !== '');
  let relative = '';
  for (const segment of segments) {
    relative = relative === '' ? segment : relative + '/' + segment;
    if (checked.has(relative)) continue;
    let stats;
    try { stats = fs.lstatSync(path.join(root, relative)); } catch (error) { if (error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return 'parent ' + relative + ' does not exist'; throw error; }
    if (stats.isSymbolicLink()) return 'parent ' + relative + ' is a symbolic link';
    if (!stats.isDirectory()) return 'parent ' + relative + ' is not a directory';
    checked.add(relative);
  }
  return undefined;
}
function writeOne(slab, f, root, checked) {
  const content = new Uint8Array(slab, f.at, f.length);
  if (f.sha256 !== undefined) {
    const sha256 = createHash('sha256').update(content).digest('hex');
    if (sha256 !== f.sha256) return { status: 'corrupt', sha256 };
  }
  const problem = parentProblem(root, f.absolute, checked);
  if (problem !== undefined) return { status: 'refused', reason: problem };
  const fd = fs.openSync(f.temp, FLAGS, 0o600);
  let closed = false;
  let placed = false;
  try {
    let done = 0;
    while (done < content.byteLength) done += fs.writeSync(fd, content, done, content.byteLength - done);
    if (f.chown) try { fs.fchownSync(fd, f.uid, f.gid); } catch {}
    fs.fchmodSync(fd, f.mode);
    fs.futimesSync(fd, f.mtime, f.mtime);
    fs.closeSync(fd);
    closed = true;
    try {
      fs.renameSync(f.temp, f.absolute);
    } catch (error) {
      let directory = false;
      try { directory = fs.lstatSync(f.absolute).isDirectory(); } catch {}
      if (!directory) throw error;
      return { status: 'directory' };
    }
    placed = true;
    return { status: 'placed' };
  } finally {
    if (!closed) try { fs.closeSync(fd); } catch {}
    if (!placed) try { fs.unlinkSync(f.temp); } catch {}
  }
}
parentPort.on('message', ({ id, root, slab, files }) => {
  const results = [];
  const checked = new Set();
  let stopped = false;
  for (const f of files) {
    if (stopped || Atomics.load(aborted, 0) !== 0) {
      results.push({ status: 'skipped' });
      continue;
    }
    try {
      results.push(writeOne(slab, f, root, checked));
    } catch (error) {
      // A name the file system cannot hold refuses that member only (as TarExtractor does); any other failure stops the batch.
      const code = error && error.code;
      stopped = code !== 'ENAMETOOLONG' && code !== 'EILSEQ';
      results.push({ status: 'failed', code: error && error.code, syscall: error && error.syscall, message: error instanceof Error ? error.message : String(error) });
    }
  }
  parentPort.postMessage({ id, results });
});
`;

/** One file for the worker: its content is `length` bytes at `at` in its batch's slab. */
export interface SmallFile {
  /** The temporary name it is written under, in the final name's directory. */
  temp: string;
  /** The final name it is renamed to. */
  absolute: string;
  mode: number;
  /** Seconds (fractional). */
  mtime: number;
  uid: number;
  gid: number;
  /** Whether to set uid/gid (best effort). */
  chown: boolean;
  /** The sha256 the content must have; unchecked when absent. */
  sha256?: string;
}

/**
 * What became of one file: put in place; refused because a directory is in
 * the way; not written because its content hashed to `sha256` instead;
 * not begun (after a cancel, or after an earlier file of its batch failed);
 * or failed with `error` (a Node-style system error: code, syscall), its
 * temporary file removed.
 */
export type SmallFileOutcome = { status: 'placed' } | { status: 'directory' } | { status: 'refused'; reason: string } | { status: 'corrupt'; sha256: string } | { status: 'skipped' } | { status: 'failed'; error: Error };

type Reply = { id: number; results: ({ status: 'placed' | 'directory' | 'skipped' } | { status: 'corrupt'; sha256: string } | { status: 'refused'; reason: string } | { status: 'failed'; code?: string; syscall?: string; message: string })[] };

interface Entry {
  file: SmallFile;
  at: number;
  length: number;
  resolve: (outcome: SmallFileOutcome) => void;
}

interface Sent {
  entries: Entry[];
  reject: (error: Error) => void;
}

export interface FileWriterLimits {
  /** Files in one batch. */
  files: number;
  /** Bytes of one batch's slab (a larger file gets a slab of its own size). */
  bytes: number;
}

/** Big enough that a batch's message costs little per file, small enough that the worker starts soon and memory stays low. */
export const DEFAULT_BATCH: FileWriterLimits = { files: 128, bytes: 4 * 1024 * 1024 };

/**
 * The main thread's side: files are gathered into the current batch, whose
 * content lives in one slab (an ArrayBuffer the parser copies each file
 * into, transferred to the worker, never copied again); `flush` sends it.
 * The owner must flush before waiting for a file's outcome (InFlight's
 * `beforeWait`), since a batch is otherwise only sent when it is full.
 */
export class FileWriter {
  readonly #root: string;
  readonly #limits: FileWriterLimits;
  readonly #abort = new Int32Array(new SharedArrayBuffer(4));
  readonly #sent = new Map<number, Sent>();
  #worker: Worker | undefined;
  #failure: Error | undefined;
  #slab: ArrayBuffer | undefined;
  #filled = 0;
  #batch: Entry[] = [];
  #nextId = 0;

  /** `root`: the restore target (its real path); every file is under it. */
  constructor(root: string, limits: FileWriterLimits = DEFAULT_BATCH) {
    this.#root = root;
    this.#limits = limits;
  }

  /**
   * Room for `length` bytes of content in the current batch, to be filled
   * before `add` (the view is handed to the worker with the batch). Starts
   * a new batch when the current one is full.
   */
  reserve(length: number): Uint8Array {
    if (this.#slab && (this.#filled + length > this.#slab.byteLength || this.#batch.length >= this.#limits.files)) this.flush();
    // Uninitialised (not zero-filled): a batch of a few small files touches only the pages it fills.
    this.#slab ??= Buffer.allocUnsafeSlow(Math.max(this.#limits.bytes, length)).buffer;
    return new Uint8Array(this.#slab, this.#filled, length);
  }

  /** Adds the file whose content was just put in the view `reserve` returned; resolves with its outcome once its batch is written. */
  add(file: SmallFile, content: Uint8Array): Promise<SmallFileOutcome> {
    if (content.buffer !== this.#slab || content.byteOffset !== this.#filled) throw new Error('FileWriter.add: content is not the last reserved view');
    return new Promise((resolve) => {
      this.#batch.push({ file, at: this.#filled, length: content.byteLength, resolve });
      this.#filled += content.byteLength;
    });
  }

  /** Sends the current batch to the worker, if it holds any file. */
  flush(): void {
    const entries = this.#batch;
    const slab = this.#slab;
    this.#batch = [];
    this.#slab = undefined;
    this.#filled = 0;
    if (entries.length === 0 || slab === undefined) return;
    const id = this.#nextId++;
    const files = entries.map((e) => ({ ...e.file, at: e.at, length: e.length }));
    const failed = (error: Error): void => {
      // A dead worker's files are each complete under their name or absent: its temporary files are removed here, before the files are answered.
      void Promise.all(entries.map((e) => unlink(e.file.temp).catch(() => undefined))).then(() => {
        for (const e of entries) e.resolve({ status: 'failed', error });
      });
    };
    if (this.#failure) return failed(this.#failure);
    const worker = this.#started();
    if (this.#sent.size === 0) worker.ref();
    this.#sent.set(id, { entries, reject: failed });
    worker.postMessage({ id, root: this.#root, slab, files }, [slab]);
  }

  /** No file not yet begun is begun: each is answered `skipped`. Files being written finish. */
  abort(): void {
    Atomics.store(this.#abort, 0, 1);
  }

  /**
   * Stops the worker. Meant for when every batch sent was answered; a batch
   * still under way is cut short: its files fail (each is complete under its
   * name or absent, its temporary file removed).
   */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
    const cut = new Error("the restore's file writer thread was stopped with files under way");
    for (const sent of this.#sent.values()) sent.reject(cut);
    this.#sent.clear();
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { abort: this.#abort.buffer } });
    // An idle worker must not keep the process alive; one with batches under way must.
    worker.unref();
    worker.on('message', (reply: Reply) => this.#answered(reply));
    const fail = (error: Error): void => {
      this.#failure ??= error;
      for (const sent of this.#sent.values()) sent.reject(this.#failure);
      this.#sent.clear();
    };
    worker.on('error', (error) => fail(new Error(`the restore's file writer thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => {
      // After `close` the exit is expected; before it, the batches under way are lost.
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      fail(new Error(`the restore's file writer thread exited (code ${code})`));
    });
    this.#worker = worker;
    return worker;
  }

  #answered(reply: Reply): void {
    const sent = this.#sent.get(reply.id);
    if (!sent) return;
    this.#sent.delete(reply.id);
    if (this.#sent.size === 0) this.#worker?.unref();
    sent.entries.forEach((entry, i) => {
      const result = reply.results[i]!;
      if (result.status === 'failed') entry.resolve({ status: 'failed', error: Object.assign(new Error(result.message), { code: result.code, syscall: result.syscall, path: entry.file.temp }) });
      else entry.resolve(result);
    });
  }
}
