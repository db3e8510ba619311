import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import { CairnError } from '#core/errors.ts';
import { CLAIM_GRACE_SECONDS } from '#core/jobs/janitor.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { AbandonedUploads, AbandonedUploadsReport } from '#core/ports/abandoned-uploads.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

/**
 * How long a multipart upload may go without a new part before the sweep
 * takes it for abandoned: an hour. Longer than the workflow's 600 s
 * heartbeat and the janitor's CLAIM_GRACE_SECONDS (900 s), so by then the
 * workflow has given up on a silent agent and the janitor has had its turn
 * at the job's staged image; and a live upload sends a part at least every
 * part size's worth of reading (64 MiB an hour is 18 KB/s; at the 1 GiB
 * parts of objects past 1.46 TiB, 300 KB/s).
 */
export const MULTIPART_SWEEP_GRACE_SECONDS = 4 * CLAIM_GRACE_SECONDS;

export interface AbortedUpload {
  /** The object key in the bucket (prefix included). */
  key: string;
  uploadId: string;
  initiated: Date;
  /** When its newest part was stored, if it had any. */
  lastPart?: Date;
}

export interface MultipartSweepReport {
  aborted: AbortedUpload[];
  /** Uploads under the prefix left alone: started or added to within the grace period. */
  kept: number;
  /** Uploads that could not be checked or aborted this time (the next sweep tries again). */
  problems: string[];
}

/**
 * True when an upload has been idle for the grace period: it was initiated,
 * and its newest part stored, at least `graceSeconds` before `now`.
 * The initiation alone cannot tell: a 5 TiB object takes hours to upload,
 * all of it under one upload started at the beginning.
 */
export function isAbandonedUpload(upload: { initiated: Date; lastPart?: Date }, now: Date, graceSeconds: number = MULTIPART_SWEEP_GRACE_SECONDS): boolean {
  const lastActivity = Math.max(upload.initiated.getTime(), upload.lastPart?.getTime() ?? -Infinity);
  return now.getTime() - lastActivity >= graceSeconds * 1000;
}

/**
 * Aborts the multipart uploads under `prefix` that a dead agent left
 * (isAbandonedUpload), which frees the storage their parts take. An upload
 * still in use is kept; the janitor aborts a dead job's uploads sooner
 * through its staged image (ObjectStore.deletePrefix), and the bucket's
 * AbortIncompleteMultipartUpload rule is the last resort.
 *
 * Time is passed in. Needs s3:ListBucketMultipartUploads on the bucket,
 * s3:ListMultipartUploadParts and s3:AbortMultipartUpload on its objects.
 * Safe to run concurrently with uploads and with another sweep: an upload
 * aborted twice or completed meanwhile (NoSuchUpload) is not a problem.
 */
export async function sweepMultipartUploads(options: {
  client: S3Client;
  bucket: string;
  /** A folder, as a storage unit's prefix (`site1` and `site1/` both mean keys under `site1/`, not `site10/`); '' for the whole bucket. */
  prefix: string;
  now: Date;
  graceSeconds?: number;
}): Promise<MultipartSweepReport> {
  const { client, bucket, now } = options;
  const prefix = options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
  const graceSeconds = options.graceSeconds ?? MULTIPART_SWEEP_GRACE_SECONDS;
  const report: MultipartSweepReport = { aborted: [], kept: 0, problems: [] };
  for (const upload of await listUploads(client, bucket, prefix)) {
    // One started within the grace period is kept without asking for its parts.
    if (!isAbandonedUpload(upload, now, graceSeconds)) {
      report.kept += 1;
      continue;
    }
    const where = `s3://${bucket}/${upload.key} (upload ${upload.uploadId})`;
    let lastPart: Date | undefined;
    try {
      lastPart = await newestPart(client, bucket, upload);
    } catch (error) {
      if (errorName(error) !== 'NoSuchUpload') report.problems.push(`listing the parts of ${where} failed: ${messageOf(error)}`);
      continue;
    }
    const candidate = { ...upload, ...(lastPart === undefined ? {} : { lastPart }) };
    if (!isAbandonedUpload(candidate, now, graceSeconds)) {
      report.kept += 1;
      continue;
    }
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId }));
      report.aborted.push(candidate);
    } catch (error) {
      if (errorName(error) !== 'NoSuchUpload') report.problems.push(`aborting ${where} failed: ${messageOf(error)}`);
    }
  }
  return report;
}

/** Every upload in progress under the prefix; the SDK has no paginator for them, so this follows the key and upload-id markers. */
async function listUploads(client: S3Client, bucket: string, prefix: string): Promise<{ key: string; uploadId: string; initiated: Date }[]> {
  const uploads: { key: string; uploadId: string; initiated: Date }[] = [];
  let marker: { KeyMarker?: string; UploadIdMarker?: string } = {};
  try {
    for (;;) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, ...marker }));
      for (const u of page.Uploads ?? []) {
        // Without a start time it cannot be judged: it counts as started now, so it is kept.
        if (u.Key !== undefined && u.UploadId !== undefined) uploads.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(8.64e15) });
      }
      if (page.IsTruncated !== true) break;
      marker = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker };
    }
  } catch (error) {
    throw new CairnError(StatusCode.MEDIA_READ_ERROR, `listing the multipart uploads under s3://${bucket}/${prefix} failed: ${messageOf(error)}`, { cause: error });
  }
  return uploads;
}

/**
 * When the upload's newest part was stored. Follows IsTruncated rather than
 * the SDK's paginateListParts, which stops only on a missing marker: moto
 * answers the last page with a marker of 0, and the paginator never ends.
 */
async function newestPart(client: S3Client, bucket: string, upload: { key: string; uploadId: string }): Promise<Date | undefined> {
  let newest: Date | undefined;
  let PartNumberMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListPartsCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.uploadId, PartNumberMarker }));
    for (const part of page.Parts ?? []) if (part.LastModified !== undefined && (newest === undefined || part.LastModified > newest)) newest = part.LastModified;
    if (page.IsTruncated !== true || page.NextPartNumberMarker === undefined) return newest;
    PartNumberMarker = page.NextPartNumberMarker;
  }
}

function messageOf(error: unknown): string {
  return `${errorName(error) ?? 'Error'}: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * AbandonedUploads on S3 (sweepMultipartUploads) for the scheduler tick: the
 * S3 storage units in `buckets` (the stack's image bucket: the only one its
 * role may list and abort uploads in) are swept under their prefix; any other
 * unit is skipped.
 */
export class S3AbandonedUploads implements AbandonedUploads {
  readonly #client: S3Client;
  readonly #buckets: ReadonlySet<string>;

  constructor(options: { client: S3Client; buckets: readonly string[] }) {
    this.#client = options.client;
    this.#buckets = new Set(options.buckets);
  }

  async sweep(unit: StorageUnit, now: Date): Promise<AbandonedUploadsReport> {
    if (unit.kind !== 's3' || !this.#buckets.has(unit.bucket)) return { aborted: [], problems: [] };
    const report = await sweepMultipartUploads({ client: this.#client, bucket: unit.bucket, prefix: unit.prefix, now });
    return { aborted: report.aborted.map(({ key, uploadId }) => ({ key, uploadId })), problems: report.problems };
  }
}
