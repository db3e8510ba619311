import { describe, expect, it } from 'vitest';
import { IMAGE_RECORD_VERSION, upgradeImageRecord } from '#core/catalog/image-versions.ts';
import { CairnError } from '#core/errors.ts';
import { sampleImage } from '../contracts/fixtures.ts';

/** An image record as version 1 stored it. */
const v1 = {
  backupId: 'host1_1796205561',
  client: 'host1',
  policy: 'p',
  schedule: 'incr',
  level: 'differential-incremental',
  storageUnit: 'disk1',
  jobId: 4,
  statusCode: 1,
  fragments: [
    { number: 1, key: 'images/host1/host1_1796205561/fragment-00001.tar', bytes: 2048, sha256: 'a'.repeat(64) },
    { number: 2, key: 'images/host1/host1_1796205561/fragment-00002.tar', bytes: 1024, sha256: 'b'.repeat(64) },
  ],
  fileCount: 9,
  bytes: 3072,
  indexKey: 'images/host1/host1_1796205561/index.ndjson.gz',
  indexSha256: 'c'.repeat(64),
  manifestKey: 'images/host1/host1_1796205561/manifest.json',
  createdAt: '2026-12-02T09:59:21.000Z',
  expiresAt: '2026-12-16T09:59:21.000Z',
  state: 'ACTIVE',
  baseBackupId: 'host1_1796200000',
};

describe('stored image records of older versions', () => {
  it('reads a version 1 record as an image whose one copy, copy 1, holds its storage unit, fragments by object key, index and manifest', () => {
    expect(upgradeImageRecord(v1, 1)).toEqual({
      backupId: v1.backupId,
      client: 'host1',
      policy: 'p',
      schedule: 'incr',
      level: 'differential-incremental',
      jobId: 4,
      statusCode: 1,
      fileCount: 9,
      bytes: 3072,
      createdAt: v1.createdAt,
      expiresAt: v1.expiresAt,
      state: 'ACTIVE',
      baseBackupId: 'host1_1796200000',
      copies: [
        {
          copyNumber: 1,
          storageUnit: 'disk1',
          fragments: v1.fragments.map(({ key, ...f }) => ({ ...f, location: { kind: 'object', key } })),
          indexKey: v1.indexKey,
          indexSha256: v1.indexSha256,
          manifestKey: v1.manifestKey,
        },
      ],
    });
  });

  it('reads a current record as it is', () => {
    const image = sampleImage('host1', new Date('2026-12-02T00:00:00Z'));
    expect(upgradeImageRecord(structuredClone(image), IMAGE_RECORD_VERSION)).toEqual(image);
  });

  it('refuses a record of a newer version, and a record that is not what its version says, naming the image', () => {
    expect(() => upgradeImageRecord(v1, IMAGE_RECORD_VERSION + 1)).toThrow(`image host1_1796205561 has catalog version ${IMAGE_RECORD_VERSION + 1}, newer than this Cairn reads (${IMAGE_RECORD_VERSION}): upgrade Cairn`);
    const failure = (() => {
      try {
        upgradeImageRecord(v1, 2);
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).message).toBe('image host1_1796205561 in the catalog is not a valid version 2 record');
    expect((failure as CairnError).details.length).toBeGreaterThan(0);
  });

  it('refuses an image whose copies are not in copy-number order (the first is the primary: copy 2 once copy 1 expired)', () => {
    const image = sampleImage('host1', new Date('2026-12-02T00:00:00Z'));
    const wrong = { ...image, copies: [{ ...image.copies[0]!, copyNumber: 2 }, { ...image.copies[0]!, copyNumber: 1, storageUnit: 'disk2' }] };
    expect(() => upgradeImageRecord(wrong, IMAGE_RECORD_VERSION)).toThrow(/not a valid version 2 record/);
    const promoted = { ...image, copies: [{ ...image.copies[0]!, copyNumber: 2 }] };
    expect(upgradeImageRecord(promoted, IMAGE_RECORD_VERSION).copies[0]!.copyNumber).toBe(2);
  });
});
