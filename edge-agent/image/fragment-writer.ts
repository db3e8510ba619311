import { createHash } from 'node:crypto';
import { pack as createPack, type Pack } from 'tar-stream';
import type { Fragment } from '#core/model/image.ts';
import type { FragmentSink, FragmentSinks, WrittenFragment } from '#core/ports/fragment-sink.ts';
import { throughPool, type BufferPool } from '../transport/buffer-pool.ts';
import { cutIntoParts } from '../transport/chunk-recycling.ts';
import { binaryNamePax, type PackHeader } from './tar-member.ts';
import { ABORT_GRACE_MS, AbandonableWrite } from './abandonable-write.ts';
import type { BusyMeter } from '../transport/busy-meter.ts';
import { TAR_MEMBERS_CHECKSUM, TarMembersDigest } from './fragment-digest.ts';

export interface FragmentWriterOptions {
  /** Where the fragments go: the first sink, then the next one at each end of media. */
  sinks: FragmentSinks;
  pool: BufferPool;
  /** A new fragment starts at the first member boundary at or past this size. */
  fragmentSizeBytes: number;
  /** How long `abort` waits for the fragment's write to stop before leaving it behind (default ABORT_GRACE_MS). */
  abortGraceMs?: number;
  /** Counts the time fragment writes are in progress at their sink (the writer's side, see DataPathMeters). */
  sinkSpan?: BusyMeter;
  /** Counts the time spent on the fragments' checksum (headers and padding; see fragment-digest.ts). */
  checksumTime?: BusyMeter;
}

/** Where a member landed: its fragment and the offset of its first header block in it. */
export interface MemberPlace {
  fragment: number;
  offset: number;
}

/** Writes member content; resolves once the sink has taken the chunk. */
export type ContentWriter = (chunk: Uint8Array) => Promise<void>;

/** What writing a file member's content returns: at least the sha256 of the bytes written, which the fragment checksum takes in their place. */
export interface ContentResult {
  sha256: string;
}

interface OpenFragment {
  number: number;
  sink: FragmentSink;
  pack: Pack;
  /** Bytes tar-stream has produced for this fragment so far. */
  produced: () => number;
  /** The fragment's checksum (tar-members-1), fed as tar-stream produces. */
  digest: TarMembersDigest;
  /** The content chunks handed to tar-stream: the bytes the checksum takes as their member's sha256. */
  content: WeakSet<Uint8Array>;
  /** The sink's write; `put.result` is what every wait on it awaits, so `abort` can release them all. */
  put: AbandonableWrite<WrittenFragment>;
}

/** A fragment completely written, and the sink that holds it (to discard it if the image fails). */
export interface StoredFragment {
  fragment: Fragment;
  sink: FragmentSink;
}

/**
 * Packs members into an image made of fragments, each one a complete tar
 * archive (with its own end-of-archive blocks) streamed to a fragment sink
 * while it is being packed: tar-stream → buffer pool → `sink.write`.
 *
 * A fragment is closed at the first member boundary once it has reached
 * `fragmentSizeBytes`, or once its sink reports end of media; after end of
 * media the next fragment goes to the next sink. One member is never split:
 * a file bigger than the fragment size makes one fragment that much bigger.
 * That keeps every fragment readable by GNU tar on its own.
 *
 * When a sink's `write` fails, the fragment's tar stream is destroyed, so
 * the member being written fails at once; `failure` then holds the sink's
 * error, which is the cause worth reporting.
 *
 * `abort` stops the fragment being written and waits a bounded time for its
 * write to stop (see AbandonableWrite): a sink that never settles cannot
 * hold the backup. After `abort`, `add` and `finish` reject with its reason.
 */
export class FragmentWriter {
  readonly #options: FragmentWriterOptions;
  readonly #stored: StoredFragment[] = [];
  #sink: FragmentSink | undefined;
  #current: OpenFragment | undefined;
  #failure: { error: unknown } | undefined;
  /** After `abort`, uploads fail because we stopped them: that is not the store's failure. */
  #aborted = false;
  #abortReason: unknown;
  /** The one abort in progress: every caller waits for the same bounded wait. */
  #aborting: Promise<void> | undefined;
  readonly #abandoned: string[] = [];

  constructor(options: FragmentWriterOptions) {
    this.#options = options;
  }

  /** The sink's error, if a fragment write failed. */
  get failure(): unknown {
    return this.#failure?.error;
  }

  /** Fragment writes `abort` gave up waiting for, as `what: reason`: what they wrote is left to the job's claim. */
  get abandoned(): readonly string[] {
    return this.#abandoned;
  }

  /** Fragments completely written so far. */
  get fragments(): readonly StoredFragment[] {
    return this.#stored;
  }

  /** Image bytes produced so far, including the fragment being written. */
  get bytes(): number {
    return this.#stored.reduce((sum, s) => sum + s.fragment.bytes, 0) + (this.#current?.produced() ?? 0);
  }

  /**
   * Adds one member. For files, `content` must write exactly `header.size`
   * bytes through the writer it is given; its result is passed back. When
   * `add` rejects, the writer is done: the fragment in progress is abandoned.
   */
  async add<R extends ContentResult = ContentResult>(header: PackHeader, content?: (write: ContentWriter) => Promise<R>): Promise<MemberPlace & { result: R | undefined }> {
    this.#throwIfFailed();
    if (this.#current && (this.#current.produced() >= this.#options.fragmentSizeBytes || this.#current.sink.endOfMedia)) await this.#close();
    const fragment = this.#current ?? (await this.#open());
    const offset = fragment.produced();
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // The entry can fail while `content` is still reading the file; it is awaited below.
    done.catch(() => undefined);
    let result: R | undefined;
    try {
      // Inside the try: a pack its sink stopped reading is destroyed, and `entry` throws, before the sink's own error arrives.
      const sink = fragment.pack.entry(withBinaryNames(fragment.pack, header), (error) => (error ? settle.reject(error) : settle.resolve()));
      // Errors reach us through the entry callback; an 'error' event without a listener would crash the process.
      sink.on('error', () => undefined);
      if (content) {
        result = await content((chunk) => {
          fragment.content.add(chunk);
          return writeToSink(sink, chunk);
        });
        // Before the padding that follows: the member's digest stands where its data is.
        if ((header.size ?? 0) > 0) fragment.digest.member(result.sha256);
        sink.end(undefined);
      }
      await done;
    } catch (error) {
      // A store that stops reading ends the tar stream before its put has
      // rejected; wait for that rejection so the store's error is the one reported.
      if (fragment.pack.destroyed || fragment.pack.destroying) await fragment.put.result.then(noop, noop);
      this.#throwIfFailed();
      // A half-written member cannot be finished: the fragment is abandoned.
      await this.abort(error);
      throw error;
    }
    return { fragment: fragment.number, offset, result };
  }

  /**
   * Adds one file as consecutive members, the pieces (piece-member.ts): the
   * content written through `write` is cut into `headers[0].size`,
   * `headers[1].size`, ... bytes, each piece a member of its own, and the
   * fragment may close between two pieces as between any two members
   * (fragment size, end of media: the next piece goes to the next sink).
   * Each piece's data is hashed here for the fragment checksum, which takes
   * every regular member's data by its sha256 (a second hash of these bytes:
   * the reader hashes the whole file, and a piece is a part of it). Returns
   * where each piece landed, in order. Failure as for `add`.
   */
  async addPieces<R extends ContentResult = ContentResult>(headers: readonly PackHeader[], content: (write: ContentWriter) => Promise<R>): Promise<{ places: MemberPlace[]; result: R }> {
    this.#throwIfFailed();
    const places: MemberPlace[] = [];
    let piece: { fragment: OpenFragment; sink: Sink; done: Promise<void>; left: number; hash: ReturnType<typeof createHash> } | undefined;
    // Like `add`, one member at a time: the next piece starts (possibly in a new fragment) once the last one's data is in.
    const start = async (header: PackHeader): Promise<void> => {
      if (this.#current && (this.#current.produced() >= this.#options.fragmentSizeBytes || this.#current.sink.endOfMedia)) await this.#close();
      const fragment = this.#current ?? (await this.#open());
      places.push({ fragment: fragment.number, offset: fragment.produced() });
      let settle!: { resolve: () => void; reject: (error: unknown) => void };
      const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      done.catch(() => undefined);
      const sink = fragment.pack.entry(withBinaryNames(fragment.pack, header), (error) => (error ? settle.reject(error) : settle.resolve()));
      // Errors reach us through the entry callback, as in `add`.
      sink.on('error', () => undefined);
      piece = { fragment, sink, done, left: header.size ?? 0, hash: createHash('sha256') };
    };
    const end = async (): Promise<void> => {
      const current = piece!;
      piece = undefined;
      current.fragment.digest.member(current.hash.digest('hex'));
      current.sink.end(undefined);
      await current.done;
    };
    let fragmentOfError: OpenFragment | undefined;
    try {
      const write: ContentWriter = async (chunk) => {
        for (let at = 0; at < chunk.byteLength; ) {
          if (piece === undefined) {
            const header = headers[places.length];
            if (header === undefined) throw new Error(`the content is longer than its ${headers.length} pieces`);
            await start(header);
          }
          const current = piece!;
          fragmentOfError = current.fragment;
          const take = Math.min(current.left, chunk.byteLength - at);
          const whole = at === 0 && take === chunk.byteLength;
          // A chunk across a piece boundary reaches the pool in two parts, maybe through two fragments: no recycling.
          if (!whole) cutIntoParts(chunk);
          const part = whole ? chunk : chunk.subarray(at, at + take);
          current.hash.update(part);
          current.fragment.content.add(part);
          await writeToSink(current.sink, part);
          current.left -= take;
          at += take;
          if (current.left === 0) await end();
        }
      };
      const result = await content(write);
      if (piece !== undefined || places.length !== headers.length) throw new Error(`the content ended in piece ${places.length} of ${headers.length}`);
      return { places, result };
    } catch (error) {
      const fragment = piece?.fragment ?? fragmentOfError ?? this.#current;
      if (fragment && (fragment.pack.destroyed || fragment.pack.destroying)) await fragment.put.result.then(noop, noop);
      this.#throwIfFailed();
      await this.abort(error);
      throw error;
    }
  }

  /** Closes the last fragment (an image always has at least one) and returns them all. */
  async finish(): Promise<Fragment[]> {
    this.#throwIfFailed();
    if (!this.#current && this.#stored.length === 0) await this.#open();
    if (this.#current) await this.#close();
    return this.#stored.map((s) => s.fragment);
  }

  /**
   * Stops the fragment being written; its write leaves nothing behind, or,
   * if it has not stopped within the grace time, is abandoned and named in
   * `abandoned`. Never rejects; a second call waits for the first.
   */
  abort(reason: unknown): Promise<void> {
    this.#aborting ??= this.#abort(reason);
    return this.#aborting;
  }

  async #abort(reason: unknown): Promise<void> {
    this.#aborted = true;
    this.#abortReason = reason;
    const current = this.#current;
    this.#current = undefined;
    if (!current) return;
    current.pack.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    const graceMs = this.#options.abortGraceMs ?? ABORT_GRACE_MS;
    if (!(await current.put.settleWithin(graceMs, reason))) {
      this.#abandoned.push(`fragment ${current.number}: its write did not stop within ${graceMs} ms of the abort; what it wrote is left for the janitor to remove with the job's claim`);
    }
  }

  async #open(): Promise<OpenFragment> {
    const number = this.#stored.length + 1;
    const sink = await this.#nextSink();
    // An abort while we waited for the sink: open nothing it would not stop.
    this.#throwIfFailed();
    const pack = createPack();
    pack.on('error', () => undefined); // surfaces through the put and the entry callbacks
    const digest = new TarMembersDigest();
    const content = new WeakSet<Uint8Array>();
    const produced = countProduced(pack, (chunk) => {
      if (content.has(chunk)) return;
      const time = this.#options.checksumTime;
      time?.start();
      digest.raw(chunk);
      time?.stop();
    });
    const span = this.#options.sinkSpan;
    span?.start();
    const put = new AbandonableWrite(sink.write(number, throughPool(pack as AsyncIterable<Uint8Array>, this.#options.pool)));
    if (span) put.result.then(() => span.stop(), () => span.stop());
    put.result.catch((error: unknown) => {
      if (!this.#aborted) this.#failure ??= { error };
      pack.destroy(error instanceof Error ? error : new Error(String(error)));
    });
    this.#current = { number, sink, pack, produced, digest, content, put };
    return this.#current;
  }

  /** The sink for a new fragment: the first one, the same one, or, once it reached end of media, the next. */
  async #nextSink(): Promise<FragmentSink> {
    if (this.#sink === undefined) this.#sink = await this.#options.sinks.first();
    else if (this.#sink.endOfMedia) this.#sink = await this.#options.sinks.next(this.#sink);
    return this.#sink;
  }

  async #close(): Promise<void> {
    const current = this.#current;
    if (!current) return;
    current.pack.finalize();
    let stored: WrittenFragment;
    try {
      // The reader cannot go on until the fragment is durable (flush, fsync): it waits for the writer.
      stored = await this.#options.pool.readerWait.track(() => current.put.result);
    } catch (error) {
      this.#current = undefined;
      if (!this.#aborted) this.#failure ??= { error };
      throw error;
    }
    this.#current = undefined;
    // An encoding sink (compression, edge-agent/codec) stores other bytes than it took: its tar size is what must match.
    const took = stored.encoding?.tarBytes ?? stored.bytes;
    if (took !== current.produced()) {
      const error = new Error(`fragment ${current.number}: the sink took ${took} bytes of ${current.produced()}`);
      this.#failure ??= { error };
      throw error;
    }
    const encoding = stored.encoding ? { encoding: stored.encoding } : {};
    this.#stored.push({ fragment: { number: current.number, bytes: stored.bytes, sha256: current.digest.digest(), checksum: TAR_MEMBERS_CHECKSUM, location: stored.location, ...encoding }, sink: current.sink });
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
    if (this.#aborted) throw this.#abortReason;
  }
}

/**
 * tar-stream does not say how many bytes it has produced, and the index needs
 * each member's offset. Every byte it emits (headers, pax records, data,
 * padding, end-of-archive) goes through `push`, in order, so we count there;
 * when a member starts, the count is its offset. `onChunk` sees each chunk
 * too (the fragment checksum); tar-stream pushes member data as the very
 * objects it was given, which is how the checksum tells data from headers.
 */
/**
 * A member with a name that is not UTF-8 (tar-member.ts, binaryNamePax):
 * its pax header is pushed first, as bytes, and the header to pack next is
 * returned; any other header is returned as it is.
 */
function withBinaryNames(pack: Pack, header: PackHeader): PackHeader {
  const binary = binaryNamePax(header);
  if (!binary) return header;
  // Between members (the previous one is done, the next not begun): the bytes go out in order, counted and hashed as headers.
  pack.push(binary.block);
  return binary.member;
}

function countProduced(pack: Pack, onChunk: (chunk: Uint8Array) => void): () => number {
  let produced = 0;
  const push = pack.push.bind(pack);
  pack.push = (chunk: unknown) => {
    if (chunk instanceof Uint8Array) {
      produced += chunk.byteLength;
      onChunk(chunk);
    }
    return push(chunk);
  };
  return () => produced;
}

type Sink = ReturnType<Pack['entry']>;

/** Writes one chunk, waiting while tar-stream applies backpressure; rejects if the entry is destroyed. */
function writeToSink(sink: Sink, chunk: Uint8Array): Promise<void> {
  if (sink.destroyed || sink.destroying) return Promise.reject(new Error('tar entry destroyed'));
  if (sink.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      sink.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      sink.off('drain', onDrain);
      reject(new Error('tar entry destroyed'));
    };
    sink.once('drain', onDrain);
    sink.once('close', onClose);
  });
}

function noop(): void {}
