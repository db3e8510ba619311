/*
 * The body of the reader thread (see reader-thread.ts), as one self-contained
 * function: the thread is started from its source text (`eval`), so the same
 * code runs from the TypeScript sources, from the esbuild bundle and under
 * the test runner, with no second entry file to locate or to bundle. It may
 * therefore use nothing from outside itself but Node built-ins, which it gets
 * through `process.getBuiltinModule`, and declares no classes.
 *
 * Protocol: messages are batches (arrays) of requests, handled in order;
 * the replies to a batch go back as one array. Requests (at most one reply
 * each):
 * - `{ op: 'open', id, path, dev, ino, chunkBytes, maxReads }`: opens the
 *   walked file (O_NOFOLLOW | O_NONBLOCK), fstats it, checks it is the same
 *   regular file, reads and hashes its first chunk. A file that fits in it
 *   and changed while it was read (docs/image-format.md, Files that change
 *   while they are read) is read again at once, up to `maxReads` reads in
 *   all: nothing of it has left the thread yet, so this costs no image
 *   space. Replies an OpenFailure or a ChunkReply with `stats` (of the read
 *   whose bytes it carries).
 * - `{ op: 'next', id }`: reads and hashes the next chunk; a ChunkReply.
 * - `{ op: 'close', id }`: closes the file; no reply.
 * - `{ op: 'reset' }`: closes every file and drops every hash (the thread is
 *   kept idle for its next owner, ReaderThread.close); no reply.
 * - `{ op: 'recycle', buffers }`: read buffers the main thread is done with
 *   (transferred back, see chunk-recycling.ts), for later chunks; no reply.
 * - `{ op: 'lstat', id, paths }`: lstats each path (the walk's stats, see
 *   walker.ts); an LstatReply with one result per path, in order.
 * - Hashing for large files (large-file.ts), whose reads stay on the main
 *   thread: `{ op: 'hashStart', id, blockBytes }` starts a whole-content
 *   sha256 (no reply); `{ op: 'hashChunk', id, data, length, blocks? }` feeds it a
 *   chunk (a copy in shared memory, starting on a block boundary, not to be
 *   used after the reply) and replies a
 *   HashChunkReply with the chunk's block sha256s (an all-zero whole block
 *   answered without hashing), or none with `blocks: false` (the caller
 *   hashes the blocks itself meanwhile); `{ op: 'hashZeros', id, length }` feeds it
 *   zeros (no reply); `{ op: 'hashEnd', id }` replies a HashEndReply with
 *   the sha256. `close` drops a hash not ended.
 * A ChunkReply carries the chunk's bytes as a transferred ArrayBuffer, and
 * once the content is done: `sha256` (of the bytes stored, zero-fill
 * included), `problem` when the file did not match its header size or was
 * modified while read (its size, mtime or ctime at the end differ from the
 * `fstat` its read started with), `reads` when it was read more than once,
 * and `zeros`, how many zero bytes to store after the
 * last chunk. The file is closed as soon as it is done.
 */

/** The file-system fields of the `fstat` at open that the image needs (bigints, as `{ bigint: true }` gives them). */
export interface WorkerStats {
  dev: bigint;
  ino: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export type ReaderRequest =
  | { op: 'open'; id: number; path: string | Uint8Array; dev: bigint; ino: bigint; chunkBytes: number; maxReads: number }
  | { op: 'next'; id: number }
  | { op: 'close'; id: number }
  | { op: 'reset' }
  | { op: 'recycle'; buffers: ArrayBuffer[] }
  | { op: 'lstat'; id: number; paths: Array<string | Uint8Array> }
  | { op: 'hashStart'; id: number; blockBytes: number }
  | { op: 'hashChunk'; id: number; data: SharedArrayBuffer; length: number; blocks?: false }
  | { op: 'hashZeros'; id: number; length: number }
  | { op: 'hashEnd'; id: number };

export interface HashChunkReply {
  id: number;
  /** The chunk's block sha256s, 32 bytes each, in order. */
  blockHashes: ArrayBuffer;
  hashMs: number;
}

export interface HashEndReply {
  id: number;
  wholeSha256: string;
  /** Hashing time since the last reply (the zeros fed meanwhile). */
  hashMs: number;
}

/** The `lstat` fields (bigints) that cross the thread boundary; the Ms and Date fields are derived from them on the other side. */
export interface LstatFields {
  dev: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  blksize: bigint;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

export interface LstatReply {
  id: number;
  results: Array<{ stats: LstatFields } | { error: FsErrorData }>;
}

export interface ChunkReply {
  id: number;
  stats?: WorkerStats;
  data: ArrayBuffer;
  length: number;
  done: boolean;
  sha256?: string;
  problem?: ReadProblem;
  /** How many times the file was read from its start on the thread, when more than once (it changed while read). */
  reads?: number;
  zeros?: number;
  /** Milliseconds this reply spent hashing, for the job's hashing figure. */
  hashMs: number;
}

/** What went wrong reading a file, in data; the main thread words it (file-reader.ts's problem texts). */
export type ReadProblem = { kind: 'read-failed'; at: number; error: FsErrorData } | { kind: 'shrank'; from: number; to: number } | { kind: 'grew'; size: number } | { kind: 'modified' };

/** A file-system error as it crosses threads: its errno code and message. */
export interface FsErrorData {
  code?: string;
  message: string;
}

/** The file cannot be backed up: at `open` (what `missing` means for ENOENT there) or its fstat, or it was replaced. */
export type OpenFailure = { id: number; error: FsErrorData; at: 'open' | 'fstat' } | { id: number; replaced: true };

export type ReaderReply = ChunkReply | OpenFailure | LstatReply | HashChunkReply | HashEndReply | { id: number; bug: string };

export function readerThreadMain(): void {
  const fs = process.getBuiltinModule('node:fs');
  const crypto = process.getBuiltinModule('node:crypto');
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  const { performance } = process.getBuiltinModule('node:perf_hooks');
  if (!parentPort) return;
  const port = parentPort;
  const ZEROS = new Uint8Array(64 * 1024);
  /** Read buffers given back (op `recycle`); a few are kept, the rest left to the collector. */
  const spare: ArrayBuffer[] = [];
  const MAX_SPARE = 16;
  /** A buffer of `bytes` for a read: a spare one that fits without wasting more than half of it, or a new one. */
  const readBuffer = (bytes: number): Buffer => {
    const at = spare.findIndex((b) => b.byteLength >= bytes && b.byteLength <= 2 * bytes);
    if (at === -1) return Buffer.allocUnsafeSlow(bytes);
    const [buffer] = spare.splice(at, 1);
    return Buffer.from(buffer!, 0, bytes);
  };

  interface OpenFile {
    fd: number;
    size: number;
    position: number;
    chunkBytes: number;
    /** The `fstat` this read started from: its size, mtime and ctime are compared with the `fstat` after the last read. */
    stats: WorkerStats;
    hash: ReturnType<typeof crypto.createHash>;
    problem: ReadProblem | undefined;
    /** Reads from the start made so far, and the most allowed (the open request's `maxReads`). */
    reads: number;
    maxReads: number;
  }
  const files = new Map<number, OpenFile>();

  const errorData = (error: unknown): FsErrorData => {
    const code = (error as { code?: unknown } | undefined)?.code;
    const message = error instanceof Error ? error.message : String(error);
    return typeof code === 'string' ? { code, message } : { message };
  };

  interface BlockHash {
    blockBytes: number;
    whole: ReturnType<typeof crypto.createHash>;
    zeroBlock: Uint8Array;
    zeroBlockSha256: Uint8Array;
    /** Hashing time not yet reported. */
    ms: number;
  }
  const hashes = new Map<number, BlockHash>();

  const hashChunk = (request: Extract<ReaderRequest, { op: 'hashChunk' }>): ReaderReply => {
    const state = hashes.get(request.id);
    if (!state) return { id: request.id, bug: `the reader thread has no hash ${request.id}` };
    const started = performance.now();
    const data = new Uint8Array(request.data, 0, request.length);
    state.whole.update(data);
    if (request.blocks === false) {
      const hashMs = state.ms + performance.now() - started;
      state.ms = 0;
      return { id: request.id, blockHashes: new ArrayBuffer(0), hashMs };
    }
    const { blockBytes } = state;
    const count = Math.ceil(request.length / blockBytes);
    const out = Buffer.allocUnsafeSlow(count * 32);
    for (let k = 0; k < count; k++) {
      const block = data.subarray(k * blockBytes, (k + 1) * blockBytes);
      const zero = block.byteLength === blockBytes && Buffer.compare(block, state.zeroBlock) === 0;
      out.set(zero ? state.zeroBlockSha256 : crypto.createHash('sha256').update(block).digest(), k * 32);
    }
    const hashMs = state.ms + performance.now() - started;
    state.ms = 0;
    return { id: request.id, blockHashes: out.buffer as ArrayBuffer, hashMs };
  };

  const hashZeros = (request: Extract<ReaderRequest, { op: 'hashZeros' }>): void => {
    const state = hashes.get(request.id);
    if (!state) return;
    const started = performance.now();
    for (let left = request.length; left > 0; left -= state.blockBytes) state.whole.update(left >= state.blockBytes ? state.zeroBlock : state.zeroBlock.subarray(0, left));
    state.ms += performance.now() - started;
  };

  const hashEnd = (id: number): ReaderReply => {
    const state = hashes.get(id);
    if (!state) return { id, bug: `the reader thread has no hash ${id}` };
    hashes.delete(id);
    return { id, wholeSha256: state.whole.digest('hex'), hashMs: state.ms };
  };

  const closeFile = (id: number): void => {
    hashes.delete(id);
    const file = files.get(id);
    if (!file) return;
    files.delete(id);
    try {
      fs.closeSync(file.fd);
    } catch {
      // A read-only descriptor: nothing was written that a failed close could lose.
    }
  };

  const statsOf = (stats: import('node:fs').BigIntStats): WorkerStats => ({ dev: stats.dev, ino: stats.ino, mode: stats.mode, nlink: stats.nlink, uid: stats.uid, gid: stats.gid, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs });

  /**
   * Reads the next chunk; see ContentReader.next in file-reader.ts, whose
   * semantics this keeps. `first`: the chunk goes out with the open's reply,
   * so when it holds the whole file and the file changed meanwhile, the file
   * is read again from its start (see the protocol above).
   */
  const readChunk = (id: number, file: OpenFile, first = false): ChunkReply => {
    const remaining = file.size - file.position;
    const want = Math.min(file.chunkBytes, remaining);
    // On the last read ask for one byte more: getting it means the file grew.
    const last = want === remaining;
    const buffer = readBuffer(last ? want + 1 : want);
    let bytesRead = 0;
    let failed: unknown;
    try {
      bytesRead = fs.readSync(file.fd, buffer, 0, buffer.length, file.position);
    } catch (error) {
      failed = error ?? new Error('read failed');
    }
    let hashMs = 0;
    let length = 0;
    let done = false;
    if (failed !== undefined) {
      file.problem = { kind: 'read-failed', at: file.position, error: errorData(failed) };
      done = true;
    } else if (bytesRead === 0 && remaining > 0) {
      file.problem = { kind: 'shrank', from: file.size, to: file.position };
      done = true;
    } else {
      if (bytesRead > want) file.problem = { kind: 'grew', size: file.size };
      length = Math.min(bytesRead, want);
      const started = performance.now();
      file.hash.update(buffer.subarray(0, length));
      hashMs += performance.now() - started;
      file.position += length;
      done = file.position === file.size;
      // A short read of a regular file is its end: it shrank while being read (known now, not one read later, so a
      // first chunk that holds the whole file can be read again).
      if (!done && bytesRead < want) {
        file.problem = { kind: 'shrank', from: file.size, to: file.position };
        done = true;
      }
    }
    const reply: ChunkReply = { id, data: buffer.buffer as ArrayBuffer, length, done, hashMs };
    if (!done) return reply;
    const zeros = file.size - file.position;
    const started = performance.now();
    for (let left = zeros; left > 0; left -= ZEROS.length) file.hash.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
    reply.sha256 = file.hash.digest('hex');
    reply.hashMs += performance.now() - started;
    if (zeros > 0) reply.zeros = zeros;
    // After the last read, the one fstat that was always made: a file whose size, mtime or ctime moved was written
    // to while we read it (ctime also catches a same-size rewrite whose mtime was set back with utimes).
    let after: import('node:fs').BigIntStats | undefined;
    if (file.problem === undefined || file.problem.kind !== 'read-failed') {
      try {
        after = fs.fstatSync(file.fd, { bigint: true });
      } catch {
        // The content is already read; an fstat failure now says nothing about it.
      }
    }
    if (file.problem === undefined && after !== undefined && (after.size !== file.stats.size || after.mtimeNs !== file.stats.mtimeNs || after.ctimeNs !== file.stats.ctimeNs)) file.problem = { kind: 'modified' };
    if (first && after !== undefined && file.problem !== undefined && file.problem.kind !== 'read-failed' && file.reads < file.maxReads) {
      // Nothing of this read has left the thread: read it again, from the stats it has now.
      file.stats = statsOf(after);
      file.size = Number(after.size);
      file.position = 0;
      file.hash = crypto.createHash('sha256');
      file.problem = undefined;
      file.reads += 1;
      const again = readChunk(id, file, true);
      again.hashMs += reply.hashMs;
      return again;
    }
    if (file.problem !== undefined) reply.problem = file.problem;
    if (file.reads > 1) reply.reads = file.reads;
    closeFile(id);
    return reply;
  };

  /** A name that is not UTF-8 arrives as its bytes (a Uint8Array after the message copy). */
  const pathOf = (path: string | Uint8Array): string | Buffer => (typeof path === 'string' ? path : Buffer.from(path.buffer, path.byteOffset, path.byteLength));

  const open = (request: Extract<ReaderRequest, { op: 'open' }>): ReaderReply => {
    let fd: number;
    try {
      fd = fs.openSync(pathOf(request.path), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (error) {
      return { id: request.id, error: errorData(error), at: 'open' };
    }
    let stats;
    try {
      stats = fs.fstatSync(fd, { bigint: true });
    } catch (error) {
      fs.closeSync(fd);
      return { id: request.id, error: errorData(error), at: 'fstat' };
    }
    if (!stats.isFile() || stats.ino !== request.ino || stats.dev !== request.dev) {
      fs.closeSync(fd);
      return { id: request.id, replaced: true };
    }
    const file: OpenFile = { fd, size: Number(stats.size), position: 0, chunkBytes: request.chunkBytes, stats: statsOf(stats), hash: crypto.createHash('sha256'), problem: undefined, reads: 1, maxReads: request.maxReads };
    files.set(request.id, file);
    const reply = readChunk(request.id, file, true);
    // The stats of the read whose bytes go out (a file read again has the stats its last read started from).
    reply.stats = file.stats;
    return reply;
  };

  const lstat = (request: Extract<ReaderRequest, { op: 'lstat' }>): LstatReply => {
    const results: LstatReply['results'] = [];
    for (const path of request.paths) {
      try {
        const s = fs.lstatSync(pathOf(path), { bigint: true });
        results.push({
          stats: { dev: s.dev, mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, rdev: s.rdev, blksize: s.blksize, ino: s.ino, size: s.size, blocks: s.blocks, atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, birthtimeNs: s.birthtimeNs },
        });
      } catch (error) {
        results.push({ error: errorData(error) });
      }
    }
    return { id: request.id, results };
  };

  const handle = (request: ReaderRequest): ReaderReply | undefined => {
    if (request.op === 'open') return open(request);
    if (request.op === 'lstat') return lstat(request);
    if (request.op === 'hashStart') {
      const zeroBlock = new Uint8Array(request.blockBytes);
      hashes.set(request.id, { blockBytes: request.blockBytes, whole: crypto.createHash('sha256'), zeroBlock, zeroBlockSha256: crypto.createHash('sha256').update(zeroBlock).digest(), ms: 0 });
      return undefined;
    }
    if (request.op === 'hashChunk') return hashChunk(request);
    if (request.op === 'hashZeros') return void hashZeros(request);
    if (request.op === 'hashEnd') return hashEnd(request.id);
    if (request.op === 'close') return void closeFile(request.id);
    if (request.op === 'reset') {
      // The owner is done and the thread is kept for the next one: nothing of this backup stays open.
      for (const id of [...files.keys()]) closeFile(id);
      hashes.clear();
      return undefined;
    }
    if (request.op === 'recycle') {
      for (const buffer of request.buffers) if (spare.length < MAX_SPARE) spare.push(buffer);
      return undefined;
    }
    const file = files.get(request.id);
    // A `next` for a file already done or closed is a caller's bug; answer it so nothing waits forever.
    if (!file) return { id: request.id, bug: `the reader thread has no open file ${request.id}` };
    return readChunk(request.id, file);
  };

  // Requests come in batches and the replies go back as one: one wake-up of each thread per batch, not per file.
  port.on('message', (batch: ReaderRequest[]) => {
    const replies: ReaderReply[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const request of batch) {
      const reply = handle(request);
      if (reply === undefined) continue;
      replies.push(reply);
      if ('data' in reply) transfer.push(reply.data);
      if ('blockHashes' in reply) transfer.push(reply.blockHashes);
    }
    if (replies.length > 0) port.postMessage(replies, transfer);
  });
}
