import { ValidationError } from '#core/errors.ts';
import { S3_MAX_PART_BYTES, S3_MIN_PART_BYTES } from '#core/model/storage-unit.ts';

const MiB = 1024 * 1024;

/** S3's multipart limits (Amazon S3 User Guide, "Amazon S3 multipart upload limits"). */
export const S3_MAX_PARTS = 10_000;
export const S3_MAX_OBJECT_BYTES = 5 * 1024 * 1024 * MiB;
export { S3_MAX_PART_BYTES, S3_MIN_PART_BYTES };

/** How big each part of one multipart upload is. */
export interface PartSizes {
  /** Bytes of part `n` (1-based); only the last part of an object may be shorter. */
  sizeOf(part: number): number;
  /** The largest part this plan ever makes: memory per upload is this × (parts in flight + 1). */
  readonly largest: number;
}

/**
 * Parts for an object whose size is known: all of one size, the configured
 * one unless the object needs bigger parts to fit in 10,000 (then the
 * smallest whole MiB that fits). An object over S3's 5 TiB maximum gets
 * the parts a 5 TiB object would, and fails at part 10,001.
 */
export function partSizesForObject(objectBytes: number, partSizeBytes: number): PartSizes {
  assertPartSize(partSizeBytes);
  const needed = Math.ceil(Math.min(objectBytes, S3_MAX_OBJECT_BYTES) / S3_MAX_PARTS / MiB) * MiB;
  const size = Math.max(partSizeBytes, needed);
  return { sizeOf: () => size, largest: size };
}

/**
 * Parts for a stream of unknown length, which must still reach S3's 5 TiB
 * maximum within 10,000 parts: parts start at `partSizeBytes` and double
 * every `tierParts` parts up to `ceiling`.
 *
 * - `ceiling` is the smallest doubling of `partSizeBytes` whose 10,000
 *   parts hold 5 TiB, so the largest part (and the memory it takes) is as
 *   small as this kind of schedule allows: 1 GiB from 64 MiB (5 TiB needs
 *   parts of at least 525 MiB on average).
 * - `tierParts` is the longest tier that still fits 5 TiB, so objects
 *   keep the configured part size as long as possible: from 64 MiB,
 *   1,593 parts a tier, i.e. 64 MiB parts up to 99.6 GiB, 128 MiB up to
 *   299 GiB, 256 MiB up to 697 GiB, 512 MiB up to 1.46 TiB, then 1 GiB.
 *
 * @aws-sdk/lib-storage's Upload cannot do this: it cuts the whole body with
 * the one partSize it is given, so a stream of unknown length would be
 * limited to partSize × 10,000 (78 GiB at 8 MiB) or need 525 MiB parts
 * (and their memory) for every object.
 */
export function growingPartSizes(partSizeBytes: number): PartSizes & { readonly tierParts: number; readonly ceiling: number } {
  assertPartSize(partSizeBytes);
  let ceiling = partSizeBytes;
  while (ceiling * S3_MAX_PARTS < S3_MAX_OBJECT_BYTES) ceiling *= 2;
  let tierParts = tierPartsFor(partSizeBytes, ceiling);
  // Just enough room at this ceiling for not even one part a tier: one more doubling leaves plenty.
  if (tierParts < 1) {
    ceiling *= 2;
    tierParts = tierPartsFor(partSizeBytes, ceiling);
  }
  return {
    sizeOf: (part) => Math.min(ceiling, partSizeBytes * 2 ** Math.floor((part - 1) / tierParts)),
    largest: ceiling,
    tierParts,
    ceiling,
  };
}

/**
 * With tiers of T parts at partSize × 2^j (j < k) and the rest at the
 * ceiling (= partSize × 2^k), 10,000 parts hold
 * 10,000 × ceiling − T × Σ (ceiling − partSize × 2^j); the largest T for
 * which that is still 5 TiB.
 */
function tierPartsFor(partSizeBytes: number, ceiling: number): number {
  if (ceiling === partSizeBytes) return S3_MAX_PARTS;
  let shortfallPerTierPart = 0;
  for (let size = partSizeBytes; size < ceiling; size *= 2) shortfallPerTierPart += ceiling - size;
  return Math.floor((ceiling * S3_MAX_PARTS - S3_MAX_OBJECT_BYTES) / shortfallPerTierPart);
}

/** A part size S3 accepts for every part but the last: a whole number of bytes from 5 MiB to 5 GiB. */
export function assertPartSize(partSizeBytes: number): void {
  if (!Number.isSafeInteger(partSizeBytes) || partSizeBytes < S3_MIN_PART_BYTES || partSizeBytes > S3_MAX_PART_BYTES) {
    throw new ValidationError('invalid S3 part size', [`partSizeBytes: ${partSizeBytes} is not a whole number of bytes from ${S3_MIN_PART_BYTES} (5 MiB) to ${S3_MAX_PART_BYTES} (5 GiB)`]);
  }
}
