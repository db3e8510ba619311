import type { Pack } from 'tar-stream';

/** tar-stream's header (as tar-member.ts's PackHeader, spelled here so the two files do not import each other). */
type PackHeader = Parameters<Pack['entry']>[0];

/**
 * A member's extended attributes and POSIX ACLs, as the reader found them
 * (reader/xattr-reader.ts) and as restore applies them
 * (restore/attr-restorer.ts). Absent on the great majority of members.
 *
 * - `xattrs`: every attribute getfattr lists (`user.*`, `trusted.*` and
 *   `security.*`, and any other namespace a file system has, as GNU tar
 *   keeps them all), name and raw value, in the order getfattr lists
 *   them, except `system.posix_acl_access` / `_default`: those are the
 *   ACLs below (GNU tar also stores them a second time as binary
 *   `SCHILY.xattr.system.posix_acl_*`, which `tar -x` ignores unless told
 *   `--xattrs-include`). One that cannot be set where it is restored
 *   (`system.nfs4_acl` on ext4, `trusted.*` when not root) is listed there.
 * - `acl`: the access ACL (only when the file has entries beyond its mode)
 *   and a directory's default ACL, each in the long text form libacl's
 *   `acl_to_text` gives and GNU tar stores (one entry a line, each line
 *   ending in `\n`, no comments), with numeric user and group ids
 *   (`user:1000:rw-`): Cairn restores owners by number, and an ACL that
 *   named users would change meaning on a host whose names map elsewhere.
 *   `acl_from_text` (GNU tar's `--acls -x`, setfacl) reads numbers as ids.
 */
export interface MemberAttrs {
  xattrs?: Array<{ name: string; value: Buffer }>;
  acl?: { access?: string; default?: string };
}

/** The index form of a member's attributes (IndexEntry `xattrs` and `acl`): values base64, so binary values survive JSON. */
export interface IndexedAttrs {
  xattrs?: Record<string, string>;
  acl?: { access?: string; default?: string };
}

export function hasAttrs(attrs: MemberAttrs | undefined): attrs is MemberAttrs {
  return attrs !== undefined && ((attrs.xattrs?.length ?? 0) > 0 || attrs.acl?.access !== undefined || attrs.acl?.default !== undefined);
}

export function indexedAttrs(attrs: MemberAttrs | undefined): IndexedAttrs {
  if (!hasAttrs(attrs)) return {};
  const out: IndexedAttrs = {};
  if (attrs.xattrs?.length) out.xattrs = Object.fromEntries(attrs.xattrs.map((x) => [x.name, x.value.toString('base64')]));
  if (attrs.acl && (attrs.acl.access !== undefined || attrs.acl.default !== undefined)) out.acl = { ...attrs.acl };
  return out;
}

export function attrsOfIndex(entry: IndexedAttrs): MemberAttrs | undefined {
  const attrs: MemberAttrs = {};
  if (entry.xattrs) attrs.xattrs = Object.entries(entry.xattrs).map(([name, value]) => ({ name, value: Buffer.from(value, 'base64') }));
  if (entry.acl) attrs.acl = { ...entry.acl };
  return hasAttrs(attrs) ? attrs : undefined;
}

/**
 * GNU tar's keyword for an attribute (xheader.c `xattr_encode_keyword`):
 * `SCHILY.xattr.` and the name with `%` as `%25` and `=` as `%3D`, so the
 * record's first `=` still ends the keyword.
 */
export function xattrKeyword(name: string): string {
  return `SCHILY.xattr.${name.replace(/%/g, '%25').replace(/=/g, '%3D')}`;
}

/** A header with its member's attributes, for the fragment writer: `attrs` is carried to `rawPaxEntry`, which tar-stream cannot write (below). */
export type AttrPackHeader = PackHeader & { attrs?: MemberAttrs };

const USTAR_NAME_MAX = 100;

/**
 * The pax extended header (typeflag `x`: its header block, records and
 * padding) of a member with attributes, and the member's header to follow
 * it, or undefined when it has none.
 *
 * Written here rather than by tar-stream: tar-stream encodes pax values as
 * UTF-8 text (`encodePax`), and an attribute's value is bytes (GNU tar
 * writes them raw, the record's length counting bytes). So the whole pax
 * header is built here: `path`, `linkpath`, the header's own records
 * (mtime, ids, GNU.sparse.*, GNU.volume.*), then `SCHILY.acl.access`,
 * `SCHILY.acl.default` and one `SCHILY.xattr.NAME` each, as GNU tar orders
 * them. The member's header that follows carries no pax of its own (two
 * `x` headers in a row would be read as one by some tars and as the second
 * by others, tar-stream included), so its ustar name must fit ustar: the
 * name when it does, else a shortened ASCII stand-in (the `path` record is
 * what every pax reader uses).
 */
export function rawPaxEntry(header: AttrPackHeader): { paxBlocks: Buffer; member: PackHeader } | undefined {
  const { attrs, ...member } = header;
  if (!hasAttrs(attrs)) return undefined;
  const records: Array<[string, Buffer]> = [['path', Buffer.from(member.name)]];
  if (member.linkname) records.push(['linkpath', Buffer.from(member.linkname)]);
  for (const [key, value] of Object.entries(member.pax ?? {})) if (key !== 'path' && key !== 'linkpath') records.push([key, Buffer.from(String(value))]);
  if (attrs.acl?.access !== undefined) records.push(['SCHILY.acl.access', Buffer.from(attrs.acl.access)]);
  if (attrs.acl?.default !== undefined) records.push(['SCHILY.acl.default', Buffer.from(attrs.acl.default)]);
  for (const { name, value } of attrs.xattrs ?? []) records.push([xattrKeyword(name), value]);
  const data = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  const plain: PackHeader = { ...member, name: ustarStandIn(member.name) };
  delete plain.pax;
  if (plain.linkname !== undefined) plain.linkname = ustarStandIn(plain.linkname);
  const seconds = Math.max(0, Math.floor((member.mtime?.getTime() ?? 0) / 1000));
  const paxBlocks = Buffer.concat([ustarBlock(ustarStandIn(`PaxHeaders/${member.name}`), data.byteLength, seconds), data, Buffer.alloc((BLOCK - (data.byteLength % BLOCK)) % BLOCK)]);
  return { paxBlocks, member: plain };
}

const BLOCK = 512;

/**
 * The ustar header block of a pax extended header (typeflag `x`), encoded
 * by hand: tar-stream encodes such a header but refuses data for any entry
 * that is not a file ("No body allowed for this entry"), and its header
 * encoder is not exported.
 */
function ustarBlock(name: string, size: number, mtimeSeconds: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const octal = (value: number, width: number, at: number): void => void block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
  block.write(name, 0, 100, 'latin1');
  octal(0o644, 8, 100);
  octal(0, 8, 108);
  octal(0, 8, 116);
  octal(size, 12, 124);
  octal(Math.min(mtimeSeconds, 0o77777777777), 12, 136);
  block.write('x', 156, 'latin1');
  block.write('ustar\0' + '00', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** One pax record: `LEN KEY=VALUE\n`, LEN counting every byte of the record including its own digits. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = body.byteLength + 1;
  while (String(length).length + body.byteLength > length) length += 1;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/**
 * A ustar name field tar-stream can encode without a pax header of its own:
 * ASCII, at most 100 bytes (the prefix field is not used, to stay simple).
 * A directory keeps its trailing `/`.
 */
function ustarStandIn(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name) && name.length <= USTAR_NAME_MAX) return name;
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= USTAR_NAME_MAX ? ascii : ascii.slice(ascii.length - USTAR_NAME_MAX);
}
