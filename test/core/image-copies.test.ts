import { describe, expect, it } from 'vitest';
import { addCopy, duplicateRefusal, nextCopyNumber, objectRootOf } from '#core/catalog/image-copies.ts';
import { planCopyExpiration, withoutExpiredCopy } from '#core/catalog/copy-expiration.ts';
import { Image, type ImageCopy } from '#core/model/image.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { dueDuplicates } from '#core/schedule/duplicate-due.ts';
import { sampleImage, samplePolicy } from '../contracts/fixtures.ts';

const DAY = 86_400_000;
const at = new Date(Date.UTC(2026, 10, 2, 20, 0, 0));
const day = (n: number): Date => new Date(at.getTime() + n * DAY);

function copyOn(image: Image, copyNumber: number, storageUnit: string, expiresAt?: string): ImageCopy {
  return { ...image.copies[0]!, copyNumber, storageUnit, ...(expiresAt === undefined ? {} : { expiresAt }) };
}

const disk1 = StorageUnit.parse({ name: 'disk1', kind: 'disk', path: '/srv/disk1' });
const disk2 = StorageUnit.parse({ name: 'disk2', kind: 'disk', path: '/srv/disk2' });

describe('image copies in the catalog', () => {
  it('a new copy gets the next number and the image lives as long as its longest-kept copy, the others keeping their own date', () => {
    const image = sampleImage('c1', at); // expires day 14
    expect(nextCopyNumber(image)).toBe(2);
    const added = addCopy(image, copyOn(image, 2, 's3-archive', day(90).toISOString()));
    expect(added.kind).toBe('added');
    const next = (added as { image: Image }).image;
    expect(Image.parse(next)).toEqual(next);
    expect(next.expiresAt).toBe(day(90).toISOString());
    expect(next.copies.map((c) => [c.copyNumber, c.expiresAt])).toEqual([[1, image.expiresAt], [2, day(90).toISOString()]]);
    // A shorter copy leaves the image's date alone.
    const short = addCopy(image, copyOn(image, 2, 'disk2', day(3).toISOString()));
    expect((short as { image: Image }).image.expiresAt).toBe(image.expiresAt);
    expect((short as { image: Image }).image.copies[0]!.expiresAt).toBeUndefined();
  });

  it('a compare-and-set that lost a race says what happened: copy present, number taken, image expiring', () => {
    const image = sampleImage('c1', at);
    const two = (addCopy(image, copyOn(image, 2, 'disk2')) as { image: Image }).image;
    expect(addCopy(two, copyOn(image, 3, 'disk2'))).toEqual({ kind: 'present', copy: two.copies[1] });
    expect(addCopy(two, copyOn(image, 2, 'disk3'))).toEqual({ kind: 'renumber', copyNumber: 3 });
    expect(addCopy({ ...two, state: 'EXPIRED' }, copyOn(image, 3, 'disk3')).kind).toBe('refused');
  });

  it('refuses a unit holding a copy, one with the same object root (a tape unit: its index storage) and an image being expired', () => {
    const image = sampleImage('c1', at);
    const units = new Map([['disk1', disk1]]);
    expect(duplicateRefusal(image, disk2, units)).toBeUndefined();
    expect(duplicateRefusal(image, disk1, units)?.message).toContain('already has copy 1 on storage unit disk1');
    const alias = StorageUnit.parse({ name: 'alias', kind: 'disk', path: '/srv/disk1/' });
    expect(duplicateRefusal(image, alias, units)?.message).toContain('keeps its objects where disk1 does');
    const tape = StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'r', pool: 'p', index: { name: 'i', kind: 'disk', path: '/srv/idx' } });
    expect(duplicateRefusal(image, tape, units)).toBeUndefined();
    const tapeOnDisk1 = StorageUnit.parse({ name: 'tape2', kind: 'tape', robot: 'r', pool: 'p', index: { name: 'i', kind: 'disk', path: '/srv/disk1' } });
    expect(duplicateRefusal(image, tapeOnDisk1, units)?.message).toContain('keeps its objects where disk1 does');
    expect(duplicateRefusal({ ...image, state: 'EXPIRED' }, disk2, units)?.message).toContain('being expired');
    expect(objectRootOf(StorageUnit.parse({ name: 's', kind: 's3', bucket: 'bucket1', prefix: 'x/' }))).toBe('s3:bucket1/x');
  });

  it('copies are in copy-number order, the first the primary (copy 2 once copy 1 expired)', () => {
    const image = sampleImage('c1', at);
    expect(Image.safeParse({ ...image, copies: [copyOn(image, 2, 'disk2'), copyOn(image, 3, 'disk3')] }).success).toBe(true);
    expect(Image.safeParse({ ...image, copies: [copyOn(image, 2, 'disk2'), copyOn(image, 1, 'disk1')] }).success).toBe(false);
  });
});

describe('copy expiration', () => {
  const base = sampleImage('c1', at); // copy 1 until day 14
  const image = (addCopy(base, copyOn(base, 2, 's3-archive', day(90).toISOString())) as { image: Image }).image;

  it('the primary goes on its own date while the copy stays, and the copy becomes the primary', () => {
    expect(planCopyExpiration({ images: [image], now: day(13) })).toEqual([]);
    const due = planCopyExpiration({ images: [image], now: day(14) });
    expect(due).toEqual([{ backupId: image.backupId, client: 'c1', copyNumber: 1, storageUnit: 'disk1', expiresAt: day(14).toISOString(), reason: `copy 1 expired on ${day(14).toISOString()}` }]);
    const after = withoutExpiredCopy(image, 1, day(14))!;
    expect(after.image.copies.map((c) => c.copyNumber)).toEqual([2]);
    expect(Image.parse(after.image).copies[0]!.storageUnit).toBe('s3-archive');
    // Never the last copy: past every date, the image-level plan decides.
    expect(planCopyExpiration({ images: [after.image], now: day(91) })).toEqual([]);
    expect(planCopyExpiration({ images: [image], now: day(91) })).toEqual([]);
    expect(withoutExpiredCopy(after.image, 2, day(91))).toBeUndefined();
  });

  it('an image a running job reads keeps every copy', () => {
    expect(planCopyExpiration({ images: [image], now: day(14), busy: new Set([image.backupId]) })).toEqual([]);
  });
});

describe('copies a policy declares', () => {
  const policy = samplePolicy('daily-home', { copies: [{ storageUnit: 's3-archive', within: 6 * 3600, retention: { days: 90 } }] });

  it('an image is due for each declared copy it lacks, with the copy\'s own retention, and says whether it is overdue', () => {
    const image = sampleImage('c1', at);
    const [due] = dueDuplicates({ policies: [policy], images: [image], now: new Date(at.getTime() + 3600_000) });
    expect(due).toEqual({ backupId: image.backupId, policy: 'daily-home', storageUnit: 's3-archive', expiresAt: day(90).toISOString(), dueBy: new Date(at.getTime() + 6 * 3600_000).toISOString(), reason: expect.stringContaining('due by') });
    expect(dueDuplicates({ policies: [policy], images: [image], now: day(1) })[0]!.reason).toContain('overdue since');
    const copied = (addCopy(image, copyOn(image, 2, 's3-archive', due!.expiresAt)) as { image: Image }).image;
    expect(dueDuplicates({ policies: [policy], images: [copied], now: day(1) })).toEqual([]);
    // Past the copy's retention, or an image being expired, or a policy without copies: nothing.
    expect(dueDuplicates({ policies: [policy], images: [image], now: day(90) })).toEqual([]);
    expect(dueDuplicates({ policies: [policy], images: [{ ...image, state: 'EXPIRED' }], now: day(1) })).toEqual([]);
    expect(dueDuplicates({ policies: [samplePolicy('daily-home')], images: [image], now: day(1) })).toEqual([]);
  });

  it('a policy file may write within as a duration', () => {
    const parsed = samplePolicy('p', { copies: [{ storageUnit: 'x', within: '6h' as unknown as number, retention: { days: 7 } }] });
    expect(parsed.copies![0]!.within).toBe(21600);
  });
});
