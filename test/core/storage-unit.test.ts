import { describe, expect, it } from 'vitest';
import { Fragment } from '#core/model/image.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';

const disk = { name: 'disk1', kind: 'disk', path: '/var/cairn/disk1' } as const;
const s3 = { name: 's3a', kind: 's3', bucket: 'cairn-images' } as const;

/** The schema's problems as `path: message`, or [] when the input is valid. */
function problems(input: unknown): string[] {
  const parsed = StorageUnit.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('a storage unit\'s compression option', () => {
  it('is off unless given: units without it store plain tar fragments, as before', () => {
    expect(StorageUnit.parse(disk).compression).toBeUndefined();
    expect(StorageUnit.parse({ ...disk, compression: { codec: 'none' } }).compression).toEqual({ codec: 'none' });
  });

  it('takes zstd at level 1 by default, or a level from 1 to 19, on disk and S3 units alike', () => {
    expect(StorageUnit.parse({ ...disk, compression: { codec: 'zstd' } }).compression).toEqual({ codec: 'zstd', level: 1 });
    expect(StorageUnit.parse({ ...s3, compression: { codec: 'zstd', level: 19 } }).compression).toEqual({ codec: 'zstd', level: 19 });
  });

  it('refuses other codecs, levels out of range or fractional, a level without zstd, and unknown keys, naming the field', () => {
    expect(problems({ ...disk, compression: { codec: 'lz4' } })).toEqual([expect.stringMatching(/^compression\.codec: /)]);
    expect(problems({ ...disk, compression: { codec: 'zstd', level: 0 } })).toEqual([expect.stringMatching(/^compression\.level: .*1/)]);
    expect(problems({ ...disk, compression: { codec: 'zstd', level: 20 } })).toEqual([expect.stringMatching(/^compression\.level: .*19/)]);
    expect(problems({ ...disk, compression: { codec: 'zstd', level: 1.5 } })).toEqual([expect.stringMatching(/^compression\.level: /)]);
    expect(problems({ ...s3, compression: { codec: 'none', level: 3 } })).toEqual([expect.stringMatching(/^compression: .*level/)]);
    expect(problems({ ...disk, compression: { codec: 'zstd', frameBytes: 1 } })).toEqual([expect.stringMatching(/^compression: .*frameBytes/)]);
    expect(problems({ ...disk, compression: 'zstd' })).toEqual([expect.stringMatching(/^compression: /)]);
  });
});

describe('a fragment\'s encoding in the catalog', () => {
  const plain = { number: 1, bytes: 10, sha256: 'a'.repeat(64), location: { kind: 'object', key: 'images/c/c_1/fragment-00001.tar' } };

  it('is absent for a plain fragment and records codec, tar size and frame size for a compressed one', () => {
    expect(Fragment.parse(plain).encoding).toBeUndefined();
    const encoding = { codec: 'zstd-seekable', tarBytes: 1_000_000, frameBytes: 262_144 };
    expect(Fragment.parse({ ...plain, encoding }).encoding).toEqual(encoding);
  });

  it('refuses an unknown codec, a missing size, or an unknown key', () => {
    expect(Fragment.safeParse({ ...plain, encoding: { codec: 'gzip', tarBytes: 1, frameBytes: 1 } }).success).toBe(false);
    expect(Fragment.safeParse({ ...plain, encoding: { codec: 'zstd-seekable', tarBytes: 1 } }).success).toBe(false);
    expect(Fragment.safeParse({ ...plain, encoding: { codec: 'zstd-seekable', tarBytes: 1, frameBytes: 0 } }).success).toBe(false);
    expect(Fragment.safeParse({ ...plain, encoding: { codec: 'zstd-seekable', tarBytes: 1, frameBytes: 1, level: 1 } }).success).toBe(false);
  });
});
