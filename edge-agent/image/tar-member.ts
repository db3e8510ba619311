import { constants } from 'node:fs';
import type { Pack } from 'tar-stream';
import { bytesOfName, escapedName, hasRawBytes } from '#core/model/file-name.ts';

/** The member types a Cairn image holds (tar-stream's names; `link` is a hard link). */
export type MemberType = 'file' | 'directory' | 'symlink' | 'link' | SpecialMemberType;

/** Files without data that are restored as nodes: tar types '6', '3' and '4' (special-member.ts). */
export type SpecialMemberType = 'fifo' | 'character-device' | 'block-device';

export type PackHeader = Parameters<Pack['entry']>[0];

/** What the image writer knows about one member before it packs it. */
export interface MemberSpec {
  /** Absolute path on the client. */
  path: string;
  type: MemberType;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  /** Bytes of member data: the file size for files, 0 otherwise. */
  size: number;
  /** Symlink: the link's text as read. Hard link: the absolute path of the first link. */
  linkTarget?: string;
  /** Character and block devices: the device number, split as the kernel does (special-member.ts). */
  device?: { major: number; minor: number };
  /** Owner and group names on the client, when it has them (owner-names.ts). */
  uname?: string;
  gname?: string;
}

/** Largest value the 8-byte octal ustar fields hold; bigger ids go into pax records. */
const MAX_USTAR_ID = 0o7777777;
/**
 * tar-stream writes the ustar mtime as `(ms / 1000) | 0`, a 32-bit integer:
 * a later time would wrap to a negative field GNU tar refuses. Later times
 * (after 2038) are clamped to this in the ustar field; the pax mtime has them.
 */
const MAX_TAR_STREAM_TIME = 0x7fffffffn;
const NS_PER_SECOND = 1_000_000_000n;

/**
 * Member names are the absolute path without its leading `/`, as GNU tar
 * stores them, so extracting with `tar -x` recreates the tree under the
 * current directory; directories end in `/`.
 */
export function memberName(absolutePath: string, type: MemberType): string {
  const relative = absolutePath.replace(/^\/+/, '');
  return type === 'directory' && relative !== '' && !relative.endsWith('/') ? `${relative}/` : relative;
}

/** The client path a member name stands for (inverse of `memberName`). */
export function pathOfMember(name: string): string {
  return `/${name.replace(/\/+$/, '')}`;
}

/**
 * The tar-stream header for a member. tar-stream writes a pax extended
 * header (which GNU tar reads) when we hand it pax records and by itself when
 * a name or link target is too long for ustar or is not ASCII. We add records
 * for what ustar cannot carry: sub-second or out-of-range mtimes and uid/gid
 * beyond 7 octal digits.
 */
export function packHeader(spec: MemberSpec): PackHeader {
  const pax: Record<string, string> = {};
  const seconds = floorDiv(spec.mtimeNs, NS_PER_SECOND);
  if (spec.mtimeNs % NS_PER_SECOND !== 0n || seconds < 0n || seconds > MAX_TAR_STREAM_TIME) pax.mtime = paxTime(spec.mtimeNs);
  if (spec.uid > MAX_USTAR_ID) pax.uid = String(spec.uid);
  if (spec.gid > MAX_USTAR_ID) pax.gid = String(spec.gid);
  const header: PackHeader = {
    name: memberName(spec.path, spec.type),
    type: spec.type,
    // tar-stream replaces a falsy mode with 0644/0755; the file-type bits keep a
    // mode of 0 from being "fixed" and are masked off when the header is encoded.
    mode: (spec.mode & 0o7777) | typeBits(spec.type),
    uid: spec.uid > MAX_USTAR_ID ? 0 : spec.uid,
    gid: spec.gid > MAX_USTAR_ID ? 0 : spec.gid,
    mtime: new Date(Number(seconds > MAX_TAR_STREAM_TIME ? MAX_TAR_STREAM_TIME : seconds < 0n ? 0n : seconds) * 1000),
    size: spec.type === 'file' ? spec.size : 0,
  };
  if (spec.type === 'symlink') header.linkname = spec.linkTarget ?? '';
  if (spec.type === 'link') header.linkname = memberName(spec.linkTarget ?? '', 'file');
  addSpecialFields(spec, header, pax);
  if (Object.keys(pax).length > 0) header.pax = pax;
  return header;
}

/** A pax time value: seconds with up to nine decimals, e.g. `1700000000.5`. */
export function paxTime(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const abs = ns < 0n ? -ns : ns;
  const whole = abs / NS_PER_SECOND;
  const fraction = (abs % NS_PER_SECOND).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Seconds since the epoch (fractional) from a member's header, preferring its pax mtime. */
export function memberMtimeSeconds(header: { mtime?: Date | null; pax?: unknown }): number {
  const pax = header.pax as Record<string, string> | null | undefined;
  const text = pax?.mtime;
  if (text !== undefined && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return (header.mtime?.getTime() ?? 0) / 1000;
}

/**
 * A member's mtime in nanoseconds since the epoch, exact: its pax `mtime`
 * (any sign, up to nine decimals; more are cut, as GNU tar does) or the
 * ustar seconds. memberMtimeSeconds is a Number and cannot hold nanoseconds.
 */
export function memberMtimeNs(header: { mtime?: Date | null; pax?: unknown }): bigint {
  const text = (header.pax as Record<string, string> | null | undefined)?.mtime;
  const match = text === undefined ? null : /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (match) {
    const magnitude = BigInt(match[2]!) * NS_PER_SECOND + BigInt((match[3] ?? '').slice(0, 9).padEnd(9, '0'));
    return match[1] === '-' ? -magnitude : magnitude;
  }
  return BigInt(Math.floor((header.mtime?.getTime() ?? 0) / 1000)) * NS_PER_SECOND;
}

/** uid and gid of a member, from pax records when ustar could not hold them. */
export function memberOwner(header: { uid: number; gid: number; pax?: unknown }): [number, number] {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const uid = pax.uid !== undefined && /^\d+$/.test(pax.uid) ? Number(pax.uid) : header.uid;
  const gid = pax.gid !== undefined && /^\d+$/.test(pax.gid) ? Number(pax.gid) : header.gid;
  return [uid, gid];
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** Largest value tar-stream writes in the 6-digit octal devmajor/devminor fields (special-member.ts refuses bigger ones). */
export const MAX_USTAR_DEVICE = 0o777777;
/** ustar's uname/gname fields hold 32 bytes, NUL-terminated when shorter: longer names go into pax records only. */
const MAX_USTAR_OWNER_NAME_BYTES = 31;

/**
 * Device numbers, and owner names (ustar fields when they fit, pax
 * `uname`/`gname` records, as GNU tar writes, when they do not). Kept apart
 * from the other pax records of packHeader.
 */
function addSpecialFields(spec: MemberSpec, header: PackHeader, pax: Record<string, string>): void {
  if (spec.device) {
    header.devmajor = spec.device.major;
    header.devminor = spec.device.minor;
  }
  for (const [key, value] of [['uname', spec.uname], ['gname', spec.gname]] as const) {
    if (value === undefined || value === '') continue;
    // A newline would end the pax record early; such a name is not kept.
    if (value.includes('\n')) continue;
    if (Buffer.byteLength(value) <= MAX_USTAR_OWNER_NAME_BYTES && /^[\x20-\x7e]*$/.test(value)) header[key] = value;
    else pax[key] = value;
  }
}

/** The owner names of a member's header (pax records first), or undefined where it has none. */
export function memberOwnerNames(header: { uname?: string; gname?: string; pax?: unknown }): { uname?: string; gname?: string } {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const uname = pax.uname ?? header.uname;
  const gname = pax.gname ?? header.gname;
  return { ...(uname ? { uname } : {}), ...(gname ? { gname } : {}) };
}

function typeBits(type: MemberType): number {
  switch (type) {
    case 'directory':
      return constants.S_IFDIR;
    case 'symlink':
      return constants.S_IFLNK;
    case 'fifo':
      return constants.S_IFIFO;
    case 'character-device':
      return constants.S_IFCHR;
    case 'block-device':
      return constants.S_IFBLK;
    default:
      return constants.S_IFREG;
  }
}

/**
 * A member whose name, link target or pax values hold bytes that are not
 * UTF-8 (core/model/file-name.ts): tar-stream writes every header string as
 * UTF-8, so such a member gets its pax header written here, with the raw
 * bytes in its `path`, `linkpath` and other records, as GNU tar writes such
 * names (tested with GNU tar 1.34: it writes the bytes without a
 * `hdrcharset=BINARY` record and warns "Ignoring unknown extended header
 * keyword" when it reads one, so none is written). `block` (the pax
 * header: a ustar block of type `x`, its records, their padding) goes into
 * the archive just before `member`, whose ustar fields hold a stand-in name
 * and which carries no pax records of its own. tar-stream packs no data for
 * an `x` member, so the block is encoded here (paxHeaderBlock).
 * Returns undefined for every other member (one regex test of the name).
 */
export function binaryNamePax(header: PackHeader): { block: Buffer; member: PackHeader } | undefined {
  const pax = (header.pax ?? {}) as Record<string, string>;
  if (!hasRawBytes(header.name) && !hasRawBytes(header.linkname ?? '') && !Object.values(pax).some(hasRawBytes)) return undefined;
  const records: Buffer[] = [paxRecord('path', bytesOfName(header.name))];
  if (header.linkname) records.push(paxRecord('linkpath', bytesOfName(header.linkname)));
  for (const [key, value] of Object.entries(pax)) records.push(paxRecord(key, bytesOfName(value)));
  const data = Buffer.concat(records);
  const member: PackHeader = { ...header, name: standIn(header.name, header.type === 'directory'), pax: undefined };
  if (header.linkname) member.linkname = standIn(header.linkname, false);
  delete member.pax;
  const seconds = Math.max(0, Math.floor((header.mtime?.getTime() ?? 0) / 1000));
  return { block: Buffer.concat([paxHeaderBlock(data.byteLength, seconds), data, Buffer.alloc((512 - (data.byteLength % 512)) % 512)]), member };
}

/** The ustar header of a pax extended header (typeflag `x`) of `size` bytes: hand-written, as tar-stream does not export its encoder. */
function paxHeaderBlock(size: number, mtimeSeconds: number): Buffer {
  const block = Buffer.alloc(512);
  const octal = (value: number, at: number, width: number): void => void block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
  block.write('PaxHeader', 0, 'latin1');
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(Math.min(mtimeSeconds, 0o77777777777), 136, 12);
  block.write('x', 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  // The checksum is taken with its own field as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** A pax record, `LEN key=value\n`, LEN counting the whole record in bytes (its own digits too). */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = body.byteLength + 1;
  while (String(length).length + body.byteLength > length) length += 1;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/** What the ustar name field says when the real name is in the pax record: the escaped name where it fits ustar's 100 bytes, else a fixed word. */
function standIn(name: string, directory: boolean): string {
  const escaped = escapedName(name);
  if (Buffer.byteLength(escaped) <= 100 && /^[\x20-\x7e]*$/.test(escaped)) return escaped;
  return directory ? 'cairn-binary-name/' : 'cairn-binary-name';
}
