import { describe, expect, it } from 'vitest';
import { extract as createExtract, pack as createPack } from 'tar-stream';
import { attrsOfIndex, indexedAttrs, rawPaxEntry, xattrKeyword } from '#agent/image/member-attrs.ts';
import { paxRecord } from '#agent/image/raw-pax-header.ts';
import { packHeader } from '#agent/image/tar-member.ts';
import { nameFromBytes } from '#core/model/file-name.ts';
import { errorsByPath, parseDump, quote, unquote } from '#agent/reader/attr-dump.ts';

async function parse(archive: Buffer): Promise<Array<{ name: string; pax: Record<string, string> | null }>> {
  const extract = createExtract();
  const members: Array<{ name: string; pax: Record<string, string> | null }> = [];
  const done = (async () => {
    for await (const entry of extract) {
      members.push({ name: entry.header.name, pax: entry.header.pax as Record<string, string> | null });
      entry.resume();
    }
  })();
  extract.end(archive);
  await done;
  return members;
}

describe('pax records of extended attributes', () => {
  it('counts every byte of a record in its length, across a change in the number of digits', () => {
    for (let size = 80; size < 1100; size++) {
      // Prepare
      const value = Buffer.alloc(size, 0xff);

      // Act
      const record = paxRecord('SCHILY.xattr.user.x', value);

      // Assess
      const space = record.indexOf(0x20);
      expect(Number(record.subarray(0, space).toString())).toBe(record.byteLength);
    }
  });

  it('encodes % and = in attribute names as GNU tar does', () => {
    expect(xattrKeyword('user.a=b%c')).toBe('SCHILY.xattr.user.a%3Db%25c');
  });

  it('writes one pax header holding the path, the member records and the attributes, before a plain header that fits ustar', async () => {
    // Prepare: a long non-ASCII name (tar-stream would write a pax header of its own for it) and a sub-second mtime.
    const name = `/data/${'é'.repeat(80)}/file`;
    const header = packHeader({ path: name, type: 'file', mode: 0o640, uid: 1, gid: 2, mtimeNs: 1_700_000_000_500_000_000n, size: 0, attrs: { xattrs: [{ name: 'user.bin', value: Buffer.from([0, 255, 10]) }], acl: { access: 'user::rw-\nuser:7:r--\ngroup::r--\nmask::r--\nother::---\n' } } });

    // Act
    const raw = rawPaxEntry(header)!;
    const members = await parse(await archiveOf(raw));

    // Assess: one member, its name from the pax path, its records all there (the binary value as tar-stream decodes text).
    expect(members).toHaveLength(1);
    expect(members[0]!.name).toBe(name.slice(1));
    expect(members[0]!.pax!.mtime).toBe('1700000000.5');
    expect(members[0]!.pax!['SCHILY.acl.access']).toContain('user:7:r--\n');
    expect(members[0]!.pax!['SCHILY.xattr.user.bin']).toBeDefined();
    expect(raw.block.includes(Buffer.from('SCHILY.xattr.user.bin=\u0000\u00ff\n', 'latin1'))).toBe(true);
    expect(raw.member.name.length).toBeLessThanOrEqual(100);
    expect(raw.member.pax).toBeUndefined();
  });

  it('holds a name that is not UTF-8 as its bytes, and every record special files add, with the attributes', async () => {
    // Prepare: a device under a Latin-1 name, a time before 1970, an owner name that does not fit ustar, an ACL and an xattr.
    const name = nameFromBytes(Buffer.from('/dev/caf\xe9-\xff', 'latin1'));
    const header = packHeader({ path: name, type: 'character-device', mode: 0o620, uid: 1, gid: 2, mtimeNs: -1_234_567_890_987_654_321n, size: 0, device: { major: 1, minor: 3 }, uname: 'u'.repeat(40), gname: 'tty', attrs: { xattrs: [{ name: 'security.x', value: Buffer.from([1, 2]) }], acl: { access: 'user::rw-\nuser:7:r--\ngroup::r--\nmask::r--\nother::---\n' } } });

    // Act
    const raw = rawPaxEntry(header)!;
    const members = await parse(await archiveOf(raw));

    // Assess: the raw bytes in the path record; mtime, uname, device numbers and the attributes all in the one member.
    expect(raw.block.includes(Buffer.from(' path=dev/caf\xe9-\xff\n', 'latin1'))).toBe(true);
    expect(members).toHaveLength(1);
    expect(members[0]!.pax).toMatchObject({ mtime: '-1234567890.987654321', uname: 'u'.repeat(40), 'SCHILY.acl.access': expect.stringContaining('user:7:r--') });
    expect(members[0]!.pax!['SCHILY.xattr.security.x']).toBeDefined();
    expect(raw.member).toMatchObject({ type: 'character-device', devmajor: 1, devminor: 3, gname: 'tty', name: 'dev/caf\\xE9-\\xFF' });
  });

  it('keeps binary values through the index form', () => {
    const attrs = { xattrs: [{ name: 'user.b', value: Buffer.from([0, 1, 254, 255]) }], acl: { default: 'user::rwx\ngroup::r-x\nother::---\n' } };
    expect(attrsOfIndex(indexedAttrs(attrs))).toEqual(attrs);
    expect(indexedAttrs(undefined)).toEqual({});
  });
});

describe('the dump formats of the attr and acl tools', () => {
  it('quotes what the tools quote and reads it back', () => {
    const name = 'dir with space/a=b\\c\né';
    expect(quote(name)).toBe('dir\\040with\\040space/a\\075b\\134c\\012\\303\\251');
    expect(unquote(quote(name)).toString()).toBe(name);
  });

  it('splits a dump into files, dropping comments', () => {
    const files = parseDump('# file: /a\\040b\nuser.x=0sAQ==\n\n# file: /c\n# owner: 0\nuser::rw-\n\n');
    expect(files).toEqual([
      { path: '/a b', lines: ['user.x=0sAQ=='] },
      { path: '/c', lines: ['user::rw-'] },
    ]);
  });

  it('reads names that are not UTF-8 back as their bytes, from either tool\'s quoting', () => {
    // getfattr writes a backslash as \134, getfacl as \\; both write a byte such as 0xff raw (output read as latin1).
    const name = nameFromBytes(Buffer.from('/d/a\xff\\b', 'latin1'));
    expect(parseDump('# file: /d/a\xff\\134b\nuser.x=0sAQ==\n\n# file: /d/a\xff\\\\b\nuser::rw-\n\n').map((f) => f.path)).toEqual([name, name]);
    const { byPath } = errorsByPath('getfattr: /d/a\xff\\134b: Permission denied\n', 'getfattr', [name]);
    expect(byPath.get(name)).toBe('Permission denied');
    expect(quote(name)).toBe('/d/a\\377\\134b');
  });

  it('names the path of an error line, even one holding ": "', () => {
    const { byPath, other } = errorsByPath('getfattr: /x: y/z: Permission denied\nsomething else\n', 'getfattr', ['/x: y/z']);
    expect(byPath.get('/x: y/z')).toBe('Permission denied');
    expect(other).toEqual(['something else']);
  });
});

async function archiveOf(raw: NonNullable<ReturnType<typeof rawPaxEntry>>): Promise<Buffer> {
  const pack = createPack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  pack.push(raw.block);
  pack.entry(raw.member, Buffer.alloc(0));
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}
