import type { BigIntStats } from 'node:fs';
import { MAX_USTAR_DEVICE, type SpecialMemberType } from './tar-member.ts';

/**
 * Files that are not data, directories or links: what the image keeps of
 * them, and why a socket is not kept.
 *
 * FIFOs, character and block devices become tar members of types '6', '3'
 * and '4' with no data (a device's number in devmajor/devminor), which GNU
 * tar and `cairn restore` recreate as nodes. A socket is bound by a running
 * program and means nothing without it: GNU tar skips sockets too. The
 * image writer lists it as skipped, so the job ends with status 1 (a
 * backup that leaves something out never ends 0 in silence).
 */
export type SpecialKind = { type: SpecialMemberType; device?: { major: number; minor: number } } | { skip: string };

/** What to do with a walk entry that is neither a regular file, a directory nor a symlink. */
export function specialKindOf(stats: BigIntStats): SpecialKind {
  if (stats.isFIFO()) return { type: 'fifo' };
  if (stats.isCharacterDevice() || stats.isBlockDevice()) {
    const device = splitDevice(stats.rdev);
    if (device.major > MAX_USTAR_DEVICE || device.minor > MAX_USTAR_DEVICE) return { skip: `device number ${device.major}:${device.minor} does not fit a tar header (at most ${MAX_USTAR_DEVICE} each)` };
    return { type: stats.isCharacterDevice() ? 'character-device' : 'block-device', device };
  }
  if (stats.isSocket()) return { skip: 'socket not backed up (a socket belongs to the program that bound it; GNU tar skips sockets too)' };
  return { skip: `not backed up: unknown file type (mode ${stats.mode.toString(8)})` };
}

/**
 * Major and minor of a Linux `dev_t`, as glibc's gnu_dev_major/minor split
 * it: 12 bits of major and 20 of minor, the low parts first.
 */
export function splitDevice(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}
