import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  paginateListObjectsV2,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { assertByteRange, assertFolderPrefix, assertKeyPrefix, assertObjectKey, type IncompleteWrite, type ObjectBody, type ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import { errorName, httpStatusOf } from './aws-errors.ts';
import { createAwsClients, type AwsClients } from './clients.ts';

/** Multipart part size and parallel parts: memory per put is bounded by PART_SIZE × (QUEUE_SIZE + 1). */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket (`cairn/disk1` or `cairn/disk1/`); none by default. */
  prefix?: string;
  /** Defaults to a client built from the environment (AWS_REGION, CAIRN_AWS_ENDPOINT). */
  client?: S3Client;
}

let environmentClients: AwsClients | undefined;

/**
 * ObjectStore on an S3 bucket, keys under an optional prefix.
 *
 * - `put` streams through @aws-sdk/lib-storage: one PutObject for a body of up
 *   to 8 MiB, a multipart upload above. S3 makes an object visible only when
 *   it is complete, which gives the port's atomicity; when the body fails the
 *   multipart upload is aborted, so no parts are left (a bucket lifecycle rule
 *   AbortIncompleteMultipartUpload covers a process that dies mid-upload).
 * - Works with versioning and Object Lock: uploads carry a checksum, which
 *   Object Lock buckets require.
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3ObjectStoreOptions) {
    this.#bucket = options.bucket;
    const prefix = (options.prefix ?? '').replace(/\/+$/, '');
    if (prefix !== '') assertObjectKey(prefix);
    this.#prefix = prefix === '' ? '' : `${prefix}/`;
    this.#client = options.client ?? (environmentClients ??= createAwsClients()).s3;
  }

  async put(key: string, body: ObjectBody): Promise<{ bytes: number }> {
    const Key = this.#key(key);
    let bytes = 0;
    let bodyFailure: { error: unknown } | undefined;
    // lib-storage keeps small chunks until a part is full, and the port lets callers
    // refill a chunk once we ask for the next one: copy each chunk as it arrives.
    const copies = async function* (source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of source) {
          bytes += chunk.byteLength;
          yield Buffer.from(chunk);
        }
      } catch (error) {
        bodyFailure = { error };
        throw error;
      }
    };
    let payload: Uint8Array | Readable;
    if (body instanceof Uint8Array) {
      payload = body;
      bytes = body.byteLength;
    } else payload = Readable.from(copies(body), { objectMode: true, highWaterMark: 1 });
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key, Body: payload },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      if (bodyFailure !== undefined) throw bodyFailure.error;
      throw this.#failure('put', Key, error, StatusCode.MEDIA_WRITE_ERROR);
    } finally {
      // Ends the caller's iterator too when S3 failed before the body was read to its end.
      if (payload instanceof Readable) payload.destroy();
    }
    return { bytes };
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<AsyncIterable<Uint8Array>> {
    const Key = this.#key(key);
    if (range !== undefined) assertByteRange(range);
    if (range?.end !== undefined && range.end <= range.start) {
      // S3 ignores an empty range and would send the whole object.
      if ((await this.head(key)) === undefined) throw new NotFoundError('object', key);
      return emptyBody();
    }
    const wholeObject = range === undefined || (range.start === 0 && range.end === undefined);
    const Range = wholeObject ? undefined : `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}`;
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key, Range }));
      const body = out.Body as unknown;
      if (body === undefined) return emptyBody();
      if (typeof body !== 'object' || body === null || !(Symbol.asyncIterator in body)) {
        throw new CairnError(StatusCode.MEDIA_READ_ERROR, `S3 returned a body for s3://${this.#bucket}/${Key} that is not a stream`);
      }
      return readBody(body as AsyncIterable<Uint8Array>, `s3://${this.#bucket}/${Key}`);
    } catch (error) {
      if (isMissingKey(error)) throw new NotFoundError('object', key, { cause: error });
      // The range starts at or after the end of the object: nothing to read.
      if (errorName(error) === 'InvalidRange' || httpStatusOf(error) === 416) return emptyBody();
      throw this.#failure('get', Key, error, StatusCode.MEDIA_READ_ERROR);
    }
  }

  async head(key: string): Promise<{ bytes: number } | undefined> {
    const Key = this.#key(key);
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key }));
      return { bytes: out.ContentLength ?? 0 };
    } catch (error) {
      if (isMissingKey(error)) return undefined;
      throw this.#failure('head', Key, error, StatusCode.MEDIA_READ_ERROR);
    }
  }

  async list(prefix: string): Promise<string[]> {
    assertKeyPrefix(prefix);
    const keys: string[] = [];
    try {
      const pages = paginateListObjectsV2({ client: this.#client }, { Bucket: this.#bucket, Prefix: this.#prefix + prefix });
      for await (const page of pages) {
        for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key.slice(this.#prefix.length));
      }
    } catch (error) {
      throw this.#failure('list', this.#prefix + prefix, error, StatusCode.MEDIA_READ_ERROR);
    }
    // S3 lists in UTF-8 byte order already; the sort states the port's order, whatever the emulator.
    return keys.sort(byCodePoint);
  }

  async delete(key: string): Promise<void> {
    const Key = this.#key(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key }));
    } catch (error) {
      if (isMissingKey(error)) return;
      throw this.#failure('delete', Key, error, StatusCode.MEDIA_WRITE_ERROR);
    }
  }

  async listIncomplete(prefix: string): Promise<IncompleteWrite[]> {
    return (await this.#uploads(prefix)).map((u) => ({ key: u.key }));
  }

  /**
   * Aborts the multipart uploads under the prefix first (a put in flight
   * then fails and a dead one's parts are freed), then deletes every version
   * of every object there, so a staged image leaves no bytes behind even in
   * a versioned bucket. Object Lock retention still protects what it
   * protects: such a version is reported as a failure, never bypassed.
   */
  async deletePrefix(prefix: string): Promise<{ objects: number; incomplete: number; bytes: number }> {
    assertFolderPrefix(prefix);
    const Prefix = this.#prefix + prefix;
    const uploads = await this.#uploads(prefix);
    for (const upload of uploads) {
      try {
        await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#prefix + upload.key, UploadId: upload.uploadId }));
      } catch (error) {
        if (errorName(error) !== 'NoSuchUpload') throw this.#failure('abort multipart upload', this.#prefix + upload.key, error, StatusCode.MEDIA_WRITE_ERROR);
      }
    }
    const versions: { Key: string; VersionId?: string }[] = [];
    const keys = new Set<string>();
    let bytes = 0;
    try {
      // No paginator exists for versions: follow the key and version markers.
      let marker: { KeyMarker?: string; VersionIdMarker?: string } = {};
      for (;;) {
        const page = await this.#client.send(new ListObjectVersionsCommand({ Bucket: this.#bucket, Prefix, ...marker }));
        for (const v of page.Versions ?? []) {
          if (v.Key === undefined) continue;
          versions.push({ Key: v.Key, VersionId: v.VersionId });
          keys.add(v.Key);
          bytes += v.Size ?? 0;
        }
        for (const m of page.DeleteMarkers ?? []) if (m.Key !== undefined) versions.push({ Key: m.Key, VersionId: m.VersionId });
        if (!page.IsTruncated) break;
        marker = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
      }
    } catch (error) {
      throw this.#failure('list object versions', Prefix, error, StatusCode.MEDIA_READ_ERROR);
    }
    // DeleteObjects takes at most 1,000 keys a call.
    for (let i = 0; i < versions.length; i += 1000) {
      const batch = versions.slice(i, i + 1000);
      let failed: string[];
      try {
        const out = await this.#client.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: batch, Quiet: true } }));
        failed = (out.Errors ?? []).map((e) => `${e.Key ?? '?'} (version ${e.VersionId ?? '-'}): ${e.Code ?? 'Error'}: ${e.Message ?? ''}`);
      } catch (error) {
        throw this.#failure('delete objects', Prefix, error, StatusCode.MEDIA_WRITE_ERROR);
      }
      if (failed.length > 0) {
        throw new CairnError(StatusCode.MEDIA_WRITE_ERROR, `S3 could not delete ${failed.length} object version(s) under s3://${this.#bucket}/${Prefix}`, { details: failed });
      }
    }
    return { objects: keys.size, incomplete: uploads.length, bytes };
  }

  async #uploads(prefix: string): Promise<{ key: string; uploadId: string }[]> {
    assertKeyPrefix(prefix);
    const uploads: { key: string; uploadId: string }[] = [];
    try {
      let marker: { KeyMarker?: string; UploadIdMarker?: string } = {};
      for (;;) {
        const page = await this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, ...marker }));
        for (const u of page.Uploads ?? []) if (u.Key !== undefined && u.UploadId !== undefined) uploads.push({ key: u.Key.slice(this.#prefix.length), uploadId: u.UploadId });
        if (!page.IsTruncated) break;
        marker = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker };
      }
    } catch (error) {
      throw this.#failure('list multipart uploads', this.#prefix + prefix, error, StatusCode.MEDIA_READ_ERROR);
    }
    return uploads;
  }

  #key(key: string): string {
    assertObjectKey(key);
    return this.#prefix + key;
  }

  #failure(operation: string, key: string, error: unknown, statusCode: StatusCodeValue): CairnError {
    if (error instanceof CairnError) return error;
    const name = errorName(error) ?? 'Error';
    const message = error instanceof Error ? error.message : String(error);
    const where = `s3://${this.#bucket}/${key}`;
    if (name === 'NoSuchBucket') {
      return new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `S3 ${operation} of ${where} failed: bucket ${this.#bucket} does not exist`, { cause: error });
    }
    return new CairnError(statusCode, `S3 ${operation} of ${where} failed: ${name}: ${message}`, { cause: error });
  }
}

function isMissingKey(error: unknown): boolean {
  const name = errorName(error);
  // HEAD answers a bare 404 (the SDK names it NotFound): no body, no error code.
  return name === 'NoSuchKey' || name === 'NotFound' || (name !== 'NoSuchBucket' && httpStatusOf(error) === 404);
}

async function* emptyBody(): AsyncIterable<Uint8Array> {
  yield* [];
}

async function* readBody(body: AsyncIterable<Uint8Array>, where: string): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (error) {
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `reading ${where} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
