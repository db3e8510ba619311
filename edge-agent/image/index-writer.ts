import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { ABORT_GRACE_MS, AbandonableWrite } from './abandonable-write.ts';
import { comparePaths, type IndexChunk, type IndexChunkTable } from './index-chunks.ts';

const gzip = promisify(gzipCallback);

/**
 * Lines of JSON per chunk (one gzip member): about 256 KiB of text, which
 * compresses to about 50 KiB, what a one-file restore reads of the index.
 * Smaller chunks make the table (in the manifest) longer and compress a
 * little worse; larger ones make a restore of a few paths read more.
 */
export const CHUNK_TEXT_CHARS = 256 * 1024;

/**
 * A chunk ends where the walk order breaks (a selection listed before one
 * that sorts earlier), so that paths grow within each chunk. An index whose
 * order breaks more often than this gets no chunk table: it is read whole,
 * as before chunks existed.
 */
const MAX_ORDER_BREAKS = 64;

/** A chunk being written: its place and checksum are known once it is compressed. */
interface OpenChunk {
  offset: number;
  bytes: number;
  entries: number;
  sha256: string;
  first: string;
  last: string;
  next?: { fragment: number; offset: number };
}

/**
 * Streams an image's file index to the store while the backup runs: one
 * IndexEntry JSON per line, in walk order, gzip-compressed (index.ndjson.gz).
 * The lines are compressed in chunks of about `CHUNK_TEXT_CHARS`, each its
 * own gzip member, so the object is still one gzip stream (`zcat` reads it)
 * and each chunk can also be read and decompressed alone; `finish` returns
 * the chunk table that says where they are (index-chunks.ts). Memory holds
 * one chunk, never the index; the catalog keeps only the key and the
 * sha256s, so its cost does not grow with the file count.
 *
 * After `abort`, `add` and `finish` reject with its reason: the stream to
 * the store is gone, and writing to it would wait for a drain that never comes.
 */
export class IndexWriter {
  readonly #out = new PassThrough();
  readonly #put: AbandonableWrite<{ bytes: number }>;
  readonly #hash = createHash('sha256');
  #entries = 0;
  /** The lines of the chunk being filled. */
  #pending = '';
  #chunkEntries = 0;
  #chunkFirst = '';
  #chunkLast = '';
  readonly #chunks: OpenChunk[] = [];
  /** Chunks written whose `next` member is not known yet (none came after them so far). */
  #awaitingNext: OpenChunk[] = [];
  #orderBreaks = 0;
  /** Stored bytes written so far: the next chunk's offset. */
  #written = 0;
  /** The chunks' compression and writes, one after another, in order. */
  #writing: Promise<void> = Promise.resolve();
  #failure: { error: unknown } | undefined;
  /** After `abort`, the upload fails because we stopped it: that is not the store's failure. */
  #aborted = false;
  #abortReason: unknown;
  #aborting: Promise<void> | undefined;
  #abandoned: string | undefined;
  readonly #key: string;
  readonly #abortGraceMs: number;

  constructor(store: ObjectStore, key: string, abortGraceMs = ABORT_GRACE_MS) {
    this.#key = key;
    this.#abortGraceMs = abortGraceMs;
    // A failure reaches us through the put; without a listener a stream error would crash the process.
    this.#out.on('error', () => undefined);
    this.#put = new AbandonableWrite(store.put(key, this.#hashed(this.#out)));
    this.#put.result.catch((error: unknown) => {
      if (!this.#aborted) this.#failure ??= { error };
      this.#out.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  get entries(): number {
    return this.#entries;
  }

  /** The index write `abort` gave up waiting for, as `what: reason`. */
  get abandoned(): string | undefined {
    return this.#abandoned;
  }

  /** The store's error, if the upload failed. */
  get failure(): unknown {
    return this.#failure?.error;
  }

  async add(entry: IndexEntry): Promise<void> {
    this.#throwIfStopped();
    // The same path again is no break: a file that changed while it was read has one line per copy (image-writer.ts).
    if (this.#chunkEntries > 0 && comparePaths(entry.path, this.#chunkLast) < 0) {
      this.#orderBreaks += 1;
      if (this.#orderBreaks <= MAX_ORDER_BREAKS) await this.#cut();
    }
    if (entry.fragment !== 0 && entry.fromBackupId === undefined) {
      // The first member after the chunks written so far.
      for (const chunk of this.#awaitingNext) chunk.next = { fragment: entry.fragment, offset: entry.offset };
      this.#awaitingNext = [];
    }
    this.#entries += 1;
    if (this.#chunkEntries === 0) this.#chunkFirst = entry.path;
    this.#chunkLast = entry.path;
    this.#chunkEntries += 1;
    this.#pending += `${JSON.stringify(entry)}\n`;
    if (this.#pending.length >= CHUNK_TEXT_CHARS) await this.#cut();
  }

  /**
   * Ends the index and waits until the store has all of it. `chunks` is
   * the chunk table, absent when the index has no lines or its order broke
   * too often to be looked up by path.
   */
  async finish(): Promise<{ sha256: string; bytes: number; entries: number; chunks?: IndexChunkTable }> {
    this.#throwIfStopped();
    if (this.#chunkEntries > 0) void this.#cut();
    // An empty index is still a gzip stream (one empty member), as it always was.
    await this.#writing;
    if (this.#chunks.length === 0) await this.#write(await gzip(''));
    this.#out.end();
    const { bytes } = await this.#put.result;
    const chunks = this.#entries > 0 && this.#orderBreaks <= MAX_ORDER_BREAKS ? this.#chunks.map((c) => ({ ...c }) satisfies IndexChunk) : undefined;
    return { sha256: this.#hash.digest('hex'), bytes, entries: this.#entries, ...(chunks ? { chunks } : {}) };
  }

  /**
   * Abandons the index; its `put` leaves nothing behind, or, if it has not
   * stopped within the grace time, is left (named in `abandoned`). Never
   * rejects; a second call waits for the first.
   */
  abort(reason: unknown): Promise<void> {
    this.#aborting ??= this.#abort(reason);
    return this.#aborting;
  }

  async #abort(reason: unknown): Promise<void> {
    this.#aborted = true;
    this.#abortReason = reason;
    if (!this.#out.destroyed) this.#out.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    if (!(await this.#put.settleWithin(this.#abortGraceMs, reason))) {
      this.#abandoned = `${this.#key}: its write did not stop within ${this.#abortGraceMs} ms of the abort; what it wrote is left for the janitor to remove with the job's claim`;
    }
  }

  #throwIfStopped(): void {
    if (this.#failure) throw this.#failure.error;
    if (this.#aborted) throw this.#abortReason;
  }

  /**
   * Ends the chunk being filled: it is compressed (on the thread pool) as
   * one gzip member and written after the chunks before it. Resolves when
   * the chunk before it is written, so one chunk compresses while the next
   * fills, and no more.
   */
  #cut(): Promise<void> {
    const previous = this.#writing;
    const text = this.#pending;
    const chunk: OpenChunk = { offset: 0, bytes: 0, entries: this.#chunkEntries, sha256: '', first: this.#chunkFirst, last: this.#chunkLast };
    this.#pending = '';
    this.#chunkEntries = 0;
    this.#chunks.push(chunk);
    this.#awaitingNext.push(chunk);
    this.#writing = this.#writing.then(async () => {
      const member = await gzip(text);
      chunk.offset = this.#written;
      chunk.bytes = member.byteLength;
      chunk.sha256 = createHash('sha256').update(member).digest('hex');
      await this.#write(member);
    });
    // Its failure reaches `finish` (or the next cut) through #writing; this copy keeps it from being unhandled meanwhile.
    this.#writing.catch(() => undefined);
    return previous;
  }

  async #write(member: Buffer): Promise<void> {
    this.#throwIfStopped();
    this.#written += member.byteLength;
    if (!this.#out.write(member)) await this.#drained();
  }

  #drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      // A destroyed stream has emitted (or is about to emit) its last 'close'.
      if (this.#out.destroyed) return reject(this.#failure?.error ?? this.#abortReason ?? new Error('index stream closed'));
      const onDrain = (): void => {
        this.#out.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.#out.off('drain', onDrain);
        reject(this.#failure?.error ?? new Error('index stream closed'));
      };
      this.#out.once('drain', onDrain);
      this.#out.once('close', onClose);
    });
  }

  async *#hashed(source: AsyncIterable<Buffer>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of source) {
      this.#hash.update(chunk);
      yield chunk;
    }
  }
}
