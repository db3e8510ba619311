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
import { CairnError, NotFoundError, ValidationError } from '#core/errors.ts';
import { byCodePoint } from '#core/code-point-order.ts';
import { assertByteRange, assertFolderPrefix, assertKeyPrefix, assertObjectKey, type IncompleteWrite, type ObjectBody, type ObjectStore } from '#core/ports/object-store.ts';
import { DEFAULT_S3_PART_SIZE_BYTES, DEFAULT_S3_UPLOAD_CONCURRENCY, type S3StorageClass, type StorageUnit } from '#core/model/storage-unit.ts';
import { StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import { errorName, httpStatusOf } from './aws-errors.ts';
import { createAwsClients, type AwsClients } from './clients.ts';
import { assertPartSize } from './s3-part-size.ts';
import { S3UploadRequestError, uploadObject } from './s3-upload.ts';

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket (`cairn/disk1` or `cairn/disk1/`); none by default. */
  prefix?: string;
  /** Defaults to a client built from the environment (AWS_REGION, CAIRN_AWS_ENDPOINT). */
  client?: S3Client;
  /**
   * Size of a multipart upload's first parts, 5 MiB to 5 GiB (default
   * 64 MiB); later parts of a long stream grow (aws/s3-part-size.ts).
   */
  partSizeBytes?: number;
  /** Parts of one put sent at once (default 2). */
  uploadConcurrency?: number;
  /** The storage class objects are written with (absent: the bucket's default). */
  storageClass?: S3StorageClass;
}

let environmentClients: AwsClients | undefined;

/** The store of an S3 storage unit, with the unit's upload settings; `client` as in S3ObjectStoreOptions. */
export function s3StorageUnitStore(unit: Extract<StorageUnit, { kind: 's3' }>, client?: S3Client): S3ObjectStore {
  return new S3ObjectStore({
    bucket: unit.bucket,
    prefix: unit.prefix,
    ...(client === undefined ? {} : { client }),
    ...(unit.partSizeBytes === undefined ? {} : { partSizeBytes: unit.partSizeBytes }),
    ...(unit.uploadConcurrency === undefined ? {} : { uploadConcurrency: unit.uploadConcurrency }),
    ...(unit.storageClass === undefined ? {} : { storageClass: unit.storageClass }),
  });
}

/**
 * ObjectStore on an S3 bucket, keys under an optional prefix.
 *
 * - `put` streams (aws/s3-upload.ts): one PutObject for a body that fits in
 *   one part, a multipart upload above, with parts that grow so any object
 *   up to S3's 5 TiB maximum fits in 10,000 parts. Memory per put is at most
 *   the largest part × (uploadConcurrency + 1): 192 MiB at the defaults for
 *   an object under 99.6 GiB, 3 GiB past 1.46 TiB (the parts are 1 GiB then).
 *   S3 makes an object visible only when it is complete, which gives the
 *   port's atomicity; when the body or S3 fails the multipart upload is
 *   aborted, so no parts are left (aws/multipart-sweep.ts and the bucket's
 *   AbortIncompleteMultipartUpload rule cover a process that dies mid-upload).
 * - Works with versioning and Object Lock: uploads carry a CRC32 checksum,
 *   which Object Lock buckets require.
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSizeBytes: number;
  readonly #uploadConcurrency: number;
  readonly #storageClass: S3StorageClass | undefined;

  constructor(options: S3ObjectStoreOptions) {
    this.#bucket = options.bucket;
    const prefix = (options.prefix ?? '').replace(/\/+$/, '');
    if (prefix !== '') assertObjectKey(prefix);
    this.#prefix = prefix === '' ? '' : `${prefix}/`;
    this.#partSizeBytes = options.partSizeBytes ?? DEFAULT_S3_PART_SIZE_BYTES;
    assertPartSize(this.#partSizeBytes);
    this.#uploadConcurrency = options.uploadConcurrency ?? DEFAULT_S3_UPLOAD_CONCURRENCY;
    if (!Number.isSafeInteger(this.#uploadConcurrency) || this.#uploadConcurrency < 1) {
      throw new ValidationError('invalid S3 upload concurrency', [`uploadConcurrency: ${this.#uploadConcurrency} is not a whole number of parts, 1 or more`]);
    }
    this.#storageClass = options.storageClass;
    this.#client = options.client ?? (environmentClients ??= createAwsClients()).s3;
  }

  async put(key: string, body: ObjectBody): Promise<{ bytes: number }> {
    const Key = this.#key(key);
    try {
      const { bytes } = await uploadObject({ client: this.#client, bucket: this.#bucket, key: Key, body, partSizeBytes: this.#partSizeBytes, concurrency: this.#uploadConcurrency, ...(this.#storageClass === undefined ? {} : { storageClass: this.#storageClass }) });
      return { bytes };
    } catch (error) {
      // The body's own failure reaches the caller as it is; S3's is named.
      if (error instanceof S3UploadRequestError) throw this.#failure(`put (${error.operation})`, Key, error.cause, StatusCode.MEDIA_WRITE_ERROR);
      throw error;
    }
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
