import { describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { DisasterRecoveryFile } from '#core/model/dr-file.ts';
import { relocateDrUnit } from '#core/model/dr-unit-relocation.ts';

const sha = 'a'.repeat(64);
const drOn = (storageUnit: unknown): DisasterRecoveryFile =>
  DisasterRecoveryFile.parse({
    format: 'cairn-disaster-recovery',
    formatVersion: 1,
    runtime: 'standalone',
    backupId: 'cairn-catalog_1700000000',
    createdAt: '2026-12-01T00:00:00.000Z',
    storageUnit,
    manifestKey: 'images/cairn-catalog/cairn-catalog_1700000000/manifest.json',
    manifestSha256: sha,
    manifestBytes: 10,
    catalogMember: 'cairn.db',
    catalogSha256: sha,
    catalogBytes: 20,
  });
const disk = drOn({ name: 'offsite', kind: 'disk', path: '/mnt/old' });
const s3 = drOn({ name: 'vault', kind: 's3', bucket: 'cairn-images', prefix: 'site-a' });
const refusal = (fn: () => unknown): { status?: number; message: string } => {
  try {
    fn();
  } catch (error) {
    return { status: error instanceof CairnError ? error.statusCode : undefined, message: String((error as Error).message) + JSON.stringify((error as CairnError).details ?? []) };
  }
  throw new Error('expected a refusal');
};

describe('relocateDrUnit', () => {
  it('leaves the DR file as it is when nothing is given', () => {
    expect(relocateDrUnit(disk, {})).toEqual({ dr: disk });
  });

  it("moves a disk unit's directory and an S3 unit's bucket and prefix, keeping every checksum", () => {
    const moved = relocateDrUnit(disk, { path: '/srv/new' });
    expect(moved.dr).toEqual({ ...disk, storageUnit: { ...disk.storageUnit, path: '/srv/new' } });
    expect(moved.relocated).toEqual({ name: 'offsite', from: '/mnt/old', to: '/srv/new' });
    const replica = relocateDrUnit(s3, { bucket: 'cairn-images-replica' });
    expect(replica.dr.storageUnit).toMatchObject({ bucket: 'cairn-images-replica', prefix: 'site-a' });
    expect(replica.relocated).toEqual({ name: 'vault', from: 's3://cairn-images/site-a', to: 's3://cairn-images-replica/site-a' });
    expect(relocateDrUnit(s3, { prefix: '' }).dr.storageUnit).toMatchObject({ bucket: 'cairn-images', prefix: '' });
  });

  it('refuses, naming what it rejected: the wrong kind of unit, a relative path, both kinds at once, a bad bucket', () => {
    expect(refusal(() => relocateDrUnit(s3, { path: '/srv/new' }))).toMatchObject({ status: 20, message: expect.stringContaining('unit vault is a s3 unit (give --unit-bucket or --unit-prefix)') });
    expect(refusal(() => relocateDrUnit(disk, { bucket: 'other' }))).toMatchObject({ status: 20, message: expect.stringContaining('unit offsite is a disk unit (give --unit-path)') });
    expect(refusal(() => relocateDrUnit(disk, { path: 'relative/dir' }))).toMatchObject({ status: 20, message: expect.stringContaining("not 'relative/dir'") });
    expect(refusal(() => relocateDrUnit(disk, { path: '/srv/new', bucket: 'b-b-b' }))).toMatchObject({ status: 20, message: expect.stringContaining('not both') });
    expect(refusal(() => relocateDrUnit(s3, { bucket: 'ab' }))).toMatchObject({ status: 20, message: expect.stringContaining('storage unit vault as relocated') });
  });
});
