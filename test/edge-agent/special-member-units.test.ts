import { describe, expect, it } from 'vitest';
import type { Header } from 'tar-stream';
import { memberMtimeNs, packHeader, paxTime } from '#agent/image/tar-member.ts';
import { splitDevice } from '#agent/image/special-member.ts';
import { OwnerNames } from '#agent/reader/owner-names.ts';
import { RestoreOwners } from '#agent/restore/restore-owners.ts';
import { nodeSetsExactly } from '#agent/restore/exact-times.ts';

const header = (fields: Partial<Header>): Header => ({ name: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: new Date(0), ...fields }) as Header;

describe('owners restored as GNU tar restores them as root', () => {
  // The target host's tables: daemon is 101 here, 1 on the client.
  const target = new OwnerNames('root:x:0:0::/root:/bin/sh\ndaemon:x:101:101::/:/bin/false\n# comment\n+nis\n', 'root:x:0:\ndaemon:x:101:\nstaff:x:50:\n');

  it('by the member’s user and group names where the target knows them', () => {
    expect(new RestoreOwners(false, target).ownerOf(header({ uid: 1, gid: 1, uname: 'daemon', gname: 'daemon' }))).toEqual([101, 101]);
  });

  it('by number where the name is unknown on the target, or the member has none', () => {
    expect(new RestoreOwners(false, target).ownerOf(header({ uid: 7, gid: 8, uname: 'nobody-here', gname: 'staff' }))).toEqual([7, 50]);
    expect(new RestoreOwners(false, target).ownerOf(header({ uid: 7, gid: 8 }))).toEqual([7, 8]);
  });

  it('by number always with numericOwner, and from pax records for ids and names ustar cannot hold', () => {
    expect(new RestoreOwners(true, target).ownerOf(header({ uid: 1, gid: 1, uname: 'daemon', gname: 'daemon' }))).toEqual([1, 1]);
    expect(new RestoreOwners(false, target).ownerOf(header({ uid: 0, gid: 0, pax: { uid: '3000000', gid: '3000001', gname: 'staff' } }))).toEqual([3000000, 50]);
  });
});

describe('owner names in member headers', () => {
  const spec = { path: '/a', type: 'file' as const, mode: 0o644, uid: 1, gid: 1, mtimeNs: 0n, size: 0 };

  it('fit the ustar fields when short and ASCII, go into pax records otherwise', () => {
    expect(packHeader({ ...spec, uname: 'daemon', gname: 'daemon' })).toMatchObject({ uname: 'daemon', gname: 'daemon' });
    const long = 'a-user-name-longer-than-31-bytes-x';
    const packed = packHeader({ ...spec, uname: long, gname: 'grüppe' });
    expect(packed.uname).toBeUndefined();
    expect(packed.pax).toEqual({ uname: long, gname: 'grüppe' });
  });
});

describe('times in member headers', () => {
  it('read back to the nanosecond, before 1970 and after 2038', () => {
    for (const ns of [1_700_000_000_123_456_789n, -1_234_567_890_987_654_321n, 10_413_792_000_000_000_001n, -1n, 0n, 1_600_000_000_000_000_000n]) {
      const packed = packHeader({ path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: ns, size: 0 });
      expect(memberMtimeNs(packed as Header)).toBe(ns);
    }
    expect(paxTime(-1_500_000_000n)).toBe('-1.5');
  });

  it('a ustar mtime field never wraps: after 2038 it holds the largest time tar-stream can write and pax holds the real one', () => {
    const packed = packHeader({ path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 10_413_792_000_000_000_000n, size: 0 });
    expect(packed.mtime!.getTime() / 1000).toBe(0x7fffffff);
    expect((packed.pax as Record<string, string> | undefined)?.mtime).toBe('10413792000');
  });

  it('are left to the exact pass when Node (libuv: microseconds, no negative times) cannot set them', () => {
    expect(nodeSetsExactly(1_600_000_000_000_000_000n, 1_600_000_000)).toBe(true);
    expect(nodeSetsExactly(1_700_000_000_500_000_000n, 1_700_000_000.5)).toBe(true);
    expect(nodeSetsExactly(1_700_000_000_123_456_789n, Number("1700000000.123456789"))).toBe(false);
    expect(nodeSetsExactly(-100_000_000_000n, -100)).toBe(false);
  });
});

describe('device numbers', () => {
  it('split as glibc splits a Linux dev_t', () => {
    expect(splitDevice(0x0103n)).toEqual({ major: 1, minor: 3 });
    expect(splitDevice(0x0700n)).toEqual({ major: 7, minor: 0 });
    // major 259, minor 300000: 12+20 bits in the new encoding.
    const major = 259n;
    const minor = 300000n;
    const rdev = ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    expect(splitDevice(rdev)).toEqual({ major: 259, minor: 300000 });
  });
});
