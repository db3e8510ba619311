import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CairnError } from '#core/errors.ts';
import type { S3StorageClass } from '#core/model/storage-unit.ts';
import type { ObjectBody } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { growingPartSizes, partSizesForObject, S3_MAX_PARTS, type PartSizes } from './s3-part-size.ts';

export interface S3UploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  body: ObjectBody;
  /** The first parts' size (aws/s3-part-size.ts says how later ones grow). */
  partSizeBytes: number;
  /** Parts sent at once. */
  concurrency: number;
  /** The storage class of the object (absent: the bucket's default). */
  storageClass?: S3StorageClass;
  /** Part sizes other than the ones chosen from `partSizeBytes` (tests use it to see parts grow on a few MiB). */
  plan?: PartSizes;
}

/** An S3 request of an upload failed; `cause` is the SDK's error. A failure of the body itself is thrown as it is. */
export class S3UploadRequestError extends Error {
  readonly operation: string;

  constructor(operation: string, cause: unknown) {
    super(`${operation} failed`, { cause });
    this.name = 'S3UploadRequestError';
    this.operation = operation;
  }
}

/**
 * Writes one object: a single PutObject when the body fits in the first
 * part, a multipart upload otherwise.
 *
 * - Part sizes: a Uint8Array's size is known, so its parts are all one size
 *   (`partSizesForObject`); a stream's is not, so its parts grow as it goes
 *   (`growingPartSizes`). Either way 5 TiB fits in 10,000 parts.
 * - Memory: at most `concurrency` parts in flight and one filling, each at
 *   most the plan's largest part. Reading the body waits while every slot
 *   is taken, and part buffers are reused, so nothing beyond that is held
 *   waiting for the garbage collector. A Uint8Array body is sent in place.
 * - Every request carries a CRC32 checksum, which S3 checks and which Object
 *   Lock buckets require (Content-MD5 or an x-amz-checksum).
 * - When the body or a request fails, reading stops (the caller's iterator
 *   is ended), the parts in flight settle, and the upload is aborted so no
 *   part is left; the caller gets the body's error as it is, or an
 *   S3UploadRequestError. A process that dies mid-upload leaves it to
 *   aws/multipart-sweep.ts and the bucket's lifecycle rule.
 *
 * Written on CreateMultipartUpload/UploadPart/CompleteMultipartUpload rather
 * than @aws-sdk/lib-storage's Upload because that takes one fixed partSize
 * for the whole body, and a stream of unknown length needs parts that grow.
 */
export async function uploadObject(options: S3UploadOptions): Promise<{ bytes: number; parts: number }> {
  const { body } = options;
  const owned = body instanceof Uint8Array;
  const plan = options.plan ?? (owned ? partSizesForObject(body.byteLength, options.partSizeBytes) : growingPartSizes(options.partSizeBytes));
  const upload = new MultipartUpload(options, plan);
  const chunks = owned ? [body][Symbol.iterator]() : body[Symbol.asyncIterator]();
  // Set when the body itself threw: that error, not an S3 one, is what the caller sees.
  let bodyFailure: { error: unknown } | undefined;
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await chunks.next();
    } catch (error) {
      bodyFailure = { error };
      break;
    }
    if (next.done === true) break;
    await upload.take(next.value, owned);
    if (upload.failed) {
      // Ends the caller's iterator: nothing more will be read.
      await Promise.resolve(chunks.return?.()).catch(() => undefined);
      break;
    }
  }
  if (bodyFailure === undefined && !upload.failed) {
    try {
      return await upload.finish();
    } catch (error) {
      upload.fail(error);
    }
  }
  await upload.abort();
  if (bodyFailure !== undefined) throw bodyFailure.error;
  throw upload.failure;
}

/** One object's upload: cuts the body into parts by plan and keeps at most `concurrency` of them in flight. */
class MultipartUpload {
  readonly #options: S3UploadOptions;
  readonly #plan: PartSizes;
  /** Part number (1-based) of the part being filled. */
  #number = 1;
  #part: PartFill | undefined;
  /** A part that is full but not sent: sent once more bytes show it is not the last (a lone part goes by PutObject). */
  #full: PartFill | undefined;
  #uploadId: Promise<string> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #completed: CompletedPart[] = [];
  /** Buffers of parts already sent, reused for the next parts of the same size. */
  readonly #spare: Buffer[] = [];
  #bytes = 0;
  #failure: { error: unknown } | undefined;

  constructor(options: S3UploadOptions, plan: PartSizes) {
    this.#options = options;
    this.#plan = plan;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  get failure(): unknown {
    return this.#failure?.error;
  }

  fail(error: unknown): void {
    this.#failure ??= { error };
  }

  /** Takes a chunk of the body; a borrowed chunk (one the caller may refill later) is copied, an owned one sent in place. */
  async take(chunk: Uint8Array, owned: boolean): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength && !this.failed) {
      if (this.#full !== undefined) {
        await this.#send(this.#full);
        this.#full = undefined;
        this.#number += 1;
        if (this.failed) return;
      }
      const size = this.#plan.sizeOf(this.#number);
      this.#part ??= new PartFill(this.#number, size, this.#number === 1 || owned ? undefined : this.#buffer(size));
      offset += this.#part.add(chunk.subarray(offset), owned);
      if (this.#part.filled === size) {
        this.#full = this.#part;
        this.#part = undefined;
      }
    }
    this.#bytes += chunk.byteLength;
  }

  async finish(): Promise<{ bytes: number; parts: number }> {
    const last = this.#full ?? this.#part;
    if (this.#uploadId === undefined) {
      await this.#request('PutObject', () =>
        this.#options.client.send(new PutObjectCommand({ Bucket: this.#options.bucket, Key: this.#options.key, Body: last?.bytes() ?? Buffer.alloc(0), ChecksumAlgorithm: 'CRC32', ...storageClassOf(this.#options) })),
      );
      return { bytes: this.#bytes, parts: 1 };
    }
    if (last !== undefined) await this.#send(last);
    await this.#settle();
    if (this.failed) throw this.failure;
    const uploadId = await this.#uploadId;
    const parts = [...this.#completed].sort((a, b) => a.PartNumber! - b.PartNumber!);
    await this.#request('CompleteMultipartUpload', () =>
      this.#options.client.send(new CompleteMultipartUploadCommand({ Bucket: this.#options.bucket, Key: this.#options.key, UploadId: uploadId, MultipartUpload: { Parts: parts } })),
    );
    return { bytes: this.#bytes, parts: parts.length };
  }

  /**
   * Waits for the parts in flight, then aborts the upload (a part still
   * being sent while it is aborted could be stored after it). A failed
   * abort is left to the sweep and the lifecycle rule: the caller's error
   * is the one that matters.
   */
  async abort(): Promise<void> {
    await this.#settle();
    if (this.#uploadId === undefined) return;
    let uploadId: string;
    try {
      uploadId = await this.#uploadId;
    } catch {
      return;
    }
    try {
      await this.#options.client.send(new AbortMultipartUploadCommand({ Bucket: this.#options.bucket, Key: this.#options.key, UploadId: uploadId }));
    } catch {
      // See above.
    }
  }

  /** Starts sending a part once a slot is free. */
  async #send(part: PartFill): Promise<void> {
    if (part.number > S3_MAX_PARTS) {
      this.fail(new CairnError(StatusCode.MEDIA_WRITE_ERROR, `${this.#options.key} is larger than S3's 5 TiB maximum: it needs more than ${S3_MAX_PARTS} parts`));
      return;
    }
    if (this.#uploadId === undefined) {
      this.#uploadId = this.#request('CreateMultipartUpload', async () => {
        const out = await this.#options.client.send(new CreateMultipartUploadCommand({ Bucket: this.#options.bucket, Key: this.#options.key, ChecksumAlgorithm: 'CRC32', ...storageClassOf(this.#options) }));
        if (out.UploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId');
        return out.UploadId;
      });
      // Its failure reaches the caller through the first part, which awaits it.
      this.#uploadId.catch(() => undefined);
    }
    while (this.#inFlight.size >= this.#options.concurrency) await Promise.race(this.#inFlight);
    if (this.failed) return;
    const sending = this.#uploadPart(part).then(
      () => {
        if (part.buffer !== undefined && part.buffer.byteLength === this.#plan.sizeOf(this.#number)) this.#spare.push(part.buffer);
      },
      (error: unknown) => this.fail(error),
    );
    this.#inFlight.add(sending);
    void sending.finally(() => this.#inFlight.delete(sending));
  }

  async #uploadPart(part: PartFill): Promise<void> {
    const uploadId = await this.#uploadId!;
    const body = part.bytes();
    const out = await this.#request(`UploadPart ${part.number}`, () =>
      this.#options.client.send(
        new UploadPartCommand({ Bucket: this.#options.bucket, Key: this.#options.key, UploadId: uploadId, PartNumber: part.number, Body: body, ContentLength: body.byteLength, ChecksumAlgorithm: 'CRC32' }),
      ),
    );
    if (out.ETag === undefined) throw new S3UploadRequestError(`UploadPart ${part.number}`, new Error('no ETag in the response'));
    this.#completed.push({ PartNumber: part.number, ETag: out.ETag, ...(out.ChecksumCRC32 === undefined ? {} : { ChecksumCRC32: out.ChecksumCRC32 }) });
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** A buffer for a part of `size` bytes: a spare one if there is one of that size. */
  #buffer(size: number): Buffer {
    for (;;) {
      const spare = this.#spare.pop();
      if (spare === undefined) return Buffer.allocUnsafeSlow(size);
      if (spare.byteLength === size) return spare;
    }
  }

  async #request<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw error instanceof S3UploadRequestError ? error : new S3UploadRequestError(operation, error);
    }
  }
}

/**
 * The bytes of one part as they arrive: copied into a buffer of the part's
 * size, or (for part 1, which may be a whole small object, and for a body
 * the upload owns) kept as a list of chunks and joined when sent.
 */
class PartFill {
  readonly number: number;
  readonly size: number;
  readonly buffer: Buffer | undefined;
  readonly #chunks: Uint8Array[] = [];
  filled = 0;

  constructor(number: number, size: number, buffer: Buffer | undefined) {
    this.number = number;
    this.size = size;
    this.buffer = buffer;
  }

  /** Takes as much of `chunk` as fits; returns how much it took. */
  add(chunk: Uint8Array, owned: boolean): number {
    const taken = Math.min(chunk.byteLength, this.size - this.filled);
    const piece = chunk.subarray(0, taken);
    if (this.buffer !== undefined) this.buffer.set(piece, this.filled);
    else this.#chunks.push(owned ? piece : Buffer.from(piece));
    this.filled += taken;
    return taken;
  }

  /** The part's bytes; chunks are joined once, and let go of, so a part never takes its size twice while it is sent. */
  bytes(): Buffer {
    if (this.buffer !== undefined) return this.buffer.subarray(0, this.filled);
    const joined = this.#chunks.length === 1 ? Buffer.from(this.#chunks[0]!.buffer, this.#chunks[0]!.byteOffset, this.#chunks[0]!.byteLength) : Buffer.concat(this.#chunks, this.filled);
    this.#chunks.splice(0, this.#chunks.length, joined);
    return joined;
  }
}

/** The StorageClass field of a put, only when the unit sets one (requests stay as they were otherwise). */
function storageClassOf(options: S3UploadOptions): { StorageClass?: S3StorageClass } {
  return options.storageClass === undefined ? {} : { StorageClass: options.storageClass };
}
