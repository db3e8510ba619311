import type { Pack } from 'tar-stream';
import { bytesOfName, escapedName } from '#core/model/file-name.ts';

/** tar-stream's header (as tar-member.ts's PackHeader, spelled here so this file imports neither of its users). */
type PackHeader = Parameters<Pack['entry']>[0];

const BLOCK = 512;
const USTAR_NAME_MAX = 100;

/**
 * A member's pax extended header (typeflag `x`: its header block, records
 * and padding) written as bytes, and the member's header to follow it.
 * Written here rather than by tar-stream, which writes every pax value as
 * UTF-8 text: a name that is not UTF-8 (core/model/file-name.ts) and an
 * extended attribute's value are bytes, which GNU tar writes raw, each
 * record's length counting bytes. The records, in GNU tar's order: `path`,
 * `linkpath`, the header's own pax records (mtime, ids, owner names,
 * GNU.sparse.*, GNU.volume.*), each with the bytes its string stands for,
 * then `extra` (member-attrs.ts: `SCHILY.acl.*`, `SCHILY.xattr.*`).
 *
 * The member's header carries no pax of its own (two `x` headers in a row
 * would be read as one by some tars and as the second by others,
 * tar-stream included), so its ustar name and link name are stand-ins
 * tar-stream can write in ustar: the escaped name where it is printable
 * ASCII within 100 bytes, else a fixed word (the `path` record is what every
 * pax reader uses). Its other fields (type, mode, ids, device numbers,
 * uname/gname when they fit ustar, clamped mtime) stay as they are.
 * No `hdrcharset=BINARY` record: GNU tar 1.34 writes such names without
 * one and warns "Ignoring unknown extended header keyword" when it reads
 * one.
 */
export function rawPaxHeader(header: PackHeader, extra: ReadonlyArray<readonly [string, Buffer]> = []): { block: Buffer; member: PackHeader } {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const records: Buffer[] = [paxRecord('path', bytesOfName(header.name))];
  if (header.linkname) records.push(paxRecord('linkpath', bytesOfName(header.linkname)));
  for (const [key, value] of Object.entries(pax)) if (key !== 'path' && key !== 'linkpath') records.push(paxRecord(key, bytesOfName(String(value))));
  for (const [key, value] of extra) records.push(paxRecord(key, value));
  const data = Buffer.concat(records);
  const member: PackHeader = { ...header, name: standIn(header.name, header.type === 'directory') };
  delete member.pax;
  if (header.linkname) member.linkname = standIn(header.linkname, false);
  const seconds = Math.max(0, Math.floor((header.mtime?.getTime() ?? 0) / 1000));
  return { block: Buffer.concat([paxHeaderBlock(data.byteLength, seconds), data, Buffer.alloc((BLOCK - (data.byteLength % BLOCK)) % BLOCK)]), member };
}

/** One pax record: `LEN KEY=VALUE\n`, LEN counting every byte of the record including its own digits; a key holding an attribute name that is not UTF-8 as its bytes. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(' '), bytesOfName(key), Buffer.from('='), value, Buffer.from('\n')]);
  let length = body.byteLength + 1;
  while (String(length).length + body.byteLength > length) length += 1;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/**
 * The ustar header block of a pax extended header of `size` bytes, encoded
 * by hand: tar-stream encodes such a header but refuses data for any entry
 * that is not a file ("No body allowed for this entry"), and its header
 * encoder is not exported.
 */
function paxHeaderBlock(size: number, mtimeSeconds: number): Buffer {
  const block = Buffer.alloc(BLOCK);
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

/** What the ustar name field says when the real name is in the pax record: the escaped name where it fits ustar's 100 bytes, else a fixed word. */
function standIn(name: string, directory: boolean): string {
  const escaped = escapedName(name);
  if (Buffer.byteLength(escaped) <= USTAR_NAME_MAX && /^[\x20-\x7e]*$/.test(escaped)) return escaped;
  return directory ? 'cairn-binary-name/' : 'cairn-binary-name';
}
