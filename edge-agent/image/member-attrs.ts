import type { Pack } from 'tar-stream';
import { rawPaxHeader } from './raw-pax-header.ts';

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

/**
 * The pax extended header of a member with attributes, and the member's
 * header to follow it, or undefined when it has none: raw-pax-header.ts
 * writes every record of the member (`path`, `linkpath` and its own pax
 * records, names that are not UTF-8 as their bytes), then
 * `SCHILY.acl.access`, `SCHILY.acl.default` and one `SCHILY.xattr.NAME`
 * each with the raw value, as GNU tar orders them.
 */
export function rawPaxEntry(header: AttrPackHeader): { block: Buffer; member: PackHeader } | undefined {
  const { attrs, ...member } = header;
  if (!hasAttrs(attrs)) return undefined;
  const records: Array<[string, Buffer]> = [];
  if (attrs.acl?.access !== undefined) records.push(['SCHILY.acl.access', Buffer.from(attrs.acl.access)]);
  if (attrs.acl?.default !== undefined) records.push(['SCHILY.acl.default', Buffer.from(attrs.acl.default)]);
  for (const { name, value } of attrs.xattrs ?? []) records.push([xattrKeyword(name), value]);
  return rawPaxHeader(member, records);
}
