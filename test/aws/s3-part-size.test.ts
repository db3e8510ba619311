import { describe, expect, it } from 'vitest';
import { growingPartSizes, partSizesForObject, S3_MAX_OBJECT_BYTES, S3_MAX_PART_BYTES, S3_MAX_PARTS, S3_MIN_PART_BYTES, type PartSizes } from '#aws/s3-part-size.ts';
import { ValidationError } from '#core/errors.ts';
import { S3StorageUnit } from '#core/model/storage-unit.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** How many parts an object of `bytes` takes under a plan, and their smallest and largest size (all but the last part). */
function cut(plan: PartSizes, bytes: number): { parts: number; smallest: number; largest: number } {
  let parts = 0;
  let total = 0;
  let smallest = Infinity;
  let largest = 0;
  while (total < bytes) {
    parts += 1;
    const size = plan.sizeOf(parts);
    total += size;
    if (total < bytes) smallest = Math.min(smallest, size);
    largest = Math.max(largest, size);
  }
  return { parts, smallest, largest };
}

describe('S3 part sizes', () => {
  it('cuts a 5 TiB object of known size into at most 10,000 parts, each within S3 bounds', () => {
    const plan = partSizesForObject(S3_MAX_OBJECT_BYTES, 64 * MiB);
    const { parts, smallest, largest } = cut(plan, S3_MAX_OBJECT_BYTES);
    expect(parts).toBeLessThanOrEqual(S3_MAX_PARTS);
    expect(smallest).toBeGreaterThanOrEqual(S3_MIN_PART_BYTES);
    expect(largest).toBeLessThanOrEqual(S3_MAX_PART_BYTES);
    // The smallest whole MiB that fits: 5 TiB / 10,000 is 524.3 MiB.
    expect(plan.largest).toBe(525 * MiB);
  });

  it('keeps the configured size for an object of known size that fits in 10,000 such parts', () => {
    expect(partSizesForObject(12 * GiB, 64 * MiB).sizeOf(1)).toBe(64 * MiB);
    expect(partSizesForObject(0, 5 * MiB).sizeOf(1)).toBe(5 * MiB);
    // 10,000 parts of 8 MiB hold 78.1 GiB; 100 GiB needs 11 MiB parts.
    expect(partSizesForObject(100 * GiB, 8 * MiB).sizeOf(7)).toBe(11 * MiB);
  });

  it('grows the parts of a stream so 5 TiB fits in 10,000, from any configured size', () => {
    const sizes = [5 * MiB, 5 * MiB + 1, 8 * MiB, 16 * MiB, 64 * MiB, 100 * MiB, 262_144_000, 274_877_907, 524 * MiB, 525 * MiB, 600 * MiB, 2 * GiB, S3_MAX_PART_BYTES];
    for (const size of sizes) {
      const plan = growingPartSizes(size);
      const { parts, smallest, largest } = cut(plan, S3_MAX_OBJECT_BYTES);
      expect({ size, fits: parts <= S3_MAX_PARTS, smallest: smallest >= size, largest: largest <= Math.min(S3_MAX_PART_BYTES, plan.largest) }).toEqual({ size, fits: true, smallest: true, largest: true });
    }
  });

  it('keeps 64 MiB parts up to 99.6 GiB by default and never goes past 1 GiB', () => {
    // Prepare
    const plan = growingPartSizes(64 * MiB);
    // Assess: the figures the README and S3ObjectStore give.
    expect({ tierParts: plan.tierParts, ceiling: plan.ceiling }).toEqual({ tierParts: 1593, ceiling: GiB });
    expect(cut(plan, 12 * GiB)).toEqual({ parts: 192, smallest: 64 * MiB, largest: 64 * MiB });
    expect([1, 1593, 1594, 3187, 4780, 6373, 10_000].map((n) => plan.sizeOf(n) / MiB)).toEqual([64, 64, 128, 256, 512, 1024, 1024]);
  });

  it('refuses a part size S3 would not take, here and in a storage unit', () => {
    for (const bad of [S3_MIN_PART_BYTES - 1, S3_MAX_PART_BYTES + 1, 8 * MiB + 0.5, Number.NaN]) {
      expect(() => growingPartSizes(bad)).toThrow(ValidationError);
      expect(S3StorageUnit.safeParse({ name: 'cloud', kind: 's3', bucket: 'bkt', partSizeBytes: bad }).success).toBe(false);
    }
    expect(S3StorageUnit.safeParse({ name: 'cloud', kind: 's3', bucket: 'bkt', uploadConcurrency: 0 }).success).toBe(false);
    expect(S3StorageUnit.parse({ name: 'cloud', kind: 's3', bucket: 'bkt', partSizeBytes: 128 * MiB, uploadConcurrency: 4 })).toMatchObject({ partSizeBytes: 128 * MiB, uploadConcurrency: 4 });
  });
});
