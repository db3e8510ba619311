import { createHash } from 'node:crypto';
import { createGzip, type Gzip } from 'node:zlib';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { ABORT_GRACE_MS, AbandonableWrite } from './abandonable-write.ts';

const BATCH_CHARS = 64 * 1024;

/**
 * Streams an image's file index to the store while the backup runs: one
 * IndexEntry JSON per line, in walk order, gzip-compressed (index.ndjson.gz).
 * Memory holds one compression window, never the index; the catalog keeps
 * only the key and sha256, so its cost does not grow with the file count.
 *
 * After `abort`, `add` and `finish` reject with its reason: the gzip stream
 * is gone, and writing to it would wait for a drain that never comes.
 */
export class IndexWriter {
  readonly #gzip: Gzip;
  readonly #put: AbandonableWrite<{ bytes: number }>;
  readonly #hash = createHash('sha256');
  #entries = 0;
  /** Lines not yet handed to gzip: one zlib call per line would cost more than the compression. */
  #pending = '';
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
    this.#gzip = createGzip();
    // A failure reaches us through the put; without a listener a stream error would crash the process.
    this.#gzip.on('error', () => undefined);
    this.#put = new AbandonableWrite(store.put(key, this.#hashed(this.#gzip)));
    this.#put.result.catch((error: unknown) => {
      if (!this.#aborted) this.#failure ??= { error };
      this.#gzip.destroy(error instanceof Error ? error : new Error(String(error)));
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
    this.#entries += 1;
    this.#pending += `${JSON.stringify(entry)}\n`;
    if (this.#pending.length >= BATCH_CHARS) await this.#flush();
  }

  /** Ends the index and waits until the store has all of it. */
  async finish(): Promise<{ sha256: string; bytes: number; entries: number }> {
    this.#throwIfStopped();
    await this.#flush();
    this.#gzip.end();
    const { bytes } = await this.#put.result;
    return { sha256: this.#hash.digest('hex'), bytes, entries: this.#entries };
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
    if (!this.#gzip.destroyed) this.#gzip.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    if (!(await this.#put.settleWithin(this.#abortGraceMs, reason))) {
      this.#abandoned = `${this.#key}: its write did not stop within ${this.#abortGraceMs} ms of the abort; what it wrote is left for the janitor to remove with the job's claim`;
    }
  }

  #throwIfStopped(): void {
    if (this.#failure) throw this.#failure.error;
    if (this.#aborted) throw this.#abortReason;
  }

  async #flush(): Promise<void> {
    this.#throwIfStopped();
    if (this.#pending.length === 0) return;
    const text = this.#pending;
    this.#pending = '';
    if (!this.#gzip.write(text)) await this.#drained();
  }

  #drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      // A destroyed stream has emitted (or is about to emit) its last 'close'.
      if (this.#gzip.destroyed) return reject(this.#failure?.error ?? this.#abortReason ?? new Error('index stream closed'));
      const onDrain = (): void => {
        this.#gzip.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.#gzip.off('drain', onDrain);
        reject(this.#failure?.error ?? new Error('index stream closed'));
      };
      this.#gzip.once('drain', onDrain);
      this.#gzip.once('close', onClose);
    });
  }

  async *#hashed(source: AsyncIterable<Buffer>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of source) {
      this.#hash.update(chunk);
      yield chunk;
    }
  }
}
