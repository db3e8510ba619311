import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { MAP_FORMAT, mappedStats, type MapEntry, type MapHead } from '#agent/offhost/extent-map.ts';
import { runMover } from '#agent/offhost/mover.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import type { BackupTaskResult, IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, tempDir } from '../helpers.ts';

/*
 * The data mover on its own, without root: the "device" is a plain file
 * (the mover accepts an image file of the mapped size), and the map is
 * written here, so every byte the mover should read is known exactly.
 */

const KiB = 1024;

async function readIndexEntries(store: ObjectStore, result: BackupTaskResult): Promise<Map<string, IndexEntry>> {
  const entries = new Map<string, IndexEntry>();
  for await (const entry of readIndex(store, result.indexKey, result.indexSha256)) entries.set(entry.path, entry);
  return entries;
}

describe('the data mover', () => {
  let scratch: ReturnType<typeof tempDir>;
  let device: string;
  let deviceBytes: Buffer;
  let unit: string;
  let mapFile: string;

  /** Writes a map with the given entries under a directory entry `/data`; stats come from real files made for the purpose. */
  const writeMap = (entries: Array<Omit<MapEntry, 'kind' | 'stats' | 'relative'> & { size?: number; type?: 'file' | 'symlink' }>, head: Partial<MapHead> = {}): void => {
    const realDir = path.join(scratch.dir, 'stats');
    mkdirSync(realDir, { recursive: true });
    const lines: unknown[] = [{ format: MAP_FORMAT, device, deviceBytes: deviceBytes.byteLength, fsType: 'ext4', readRoot: '/mnt/frozen', blockBytes: 4096, ...head }];
    lines.push({ kind: 'entry', path: '/data', relative: 'data', stats: mappedStats(lstatSync(realDir, { bigint: true })) });
    entries.forEach((entry, i) => {
      const real = path.join(realDir, `f${i}`);
      writeFileSync(real, Buffer.alloc(entry.size ?? 0));
      const { size: _size, type: _type, ...rest } = entry;
      lines.push({ kind: 'entry', relative: entry.path.slice(1), stats: mappedStats(lstatSync(real, { bigint: true })), ...rest });
    });
    writeFileSync(mapFile, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  };

  beforeEach(() => {
    scratch = tempDir('mover');
    device = path.join(scratch.dir, 'device.img');
    deviceBytes = patterned(256 * KiB, 42);
    writeFileSync(device, deviceBytes);
    unit = path.join(scratch.dir, 'unit');
    mapFile = path.join(scratch.dir, 'map.ndjson');
  });
  afterEach(() => scratch.cleanup());

  it('reads exactly the mapped ranges and stores the file with zeros between them, restored byte for byte with its holes', async () => {
    const size = 200 * KiB;
    const ranges = [
      { fileOffset: 0, deviceOffset: 128 * KiB, bytes: 8 * KiB },
      { fileOffset: 64 * KiB, deviceOffset: 16 * KiB, bytes: 12 * KiB },
      { fileOffset: 190 * KiB, deviceOffset: 200 * KiB, bytes: 10 * KiB },
    ];
    writeMap([{ path: '/data/f0', size, ranges }]);
    const rangesOut = path.join(scratch.dir, 'ranges.json');
    const task = backupTask(unit, ['/data']);
    const result = await runMover({ task, map: mapFile, rangesOut }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(0);
    expect(result.offhost).toEqual({ deviceFiles: 1, fallbackFiles: 0, fallbackReasons: {}, deviceBytesRead: 30 * KiB, deviceReads: 3 });
    const read = JSON.parse(readFileSync(rangesOut, 'utf8')) as { ranges: Array<{ offset: number; bytes: number }> };
    expect(read.ranges).toEqual(ranges.map((r) => ({ offset: r.deviceOffset, bytes: r.bytes })));

    const expected = Buffer.alloc(size);
    for (const r of ranges) deviceBytes.copy(expected, r.fileOffset, r.deviceOffset, r.deviceOffset + r.bytes);
    const target = path.join(scratch.dir, 'restore');
    await restoreImage({ store: new FsObjectStore(unit), image: catalogImage(task, result), targetDir: target });
    const restored = path.join(target, 'data/f0');
    expect(readFileSync(restored).equals(expected)).toBe(true);
    expect(Number(lstatSync(restored, { bigint: true }).blocks) * 512).toBeLessThan(size);
  });

  it('lists a file that falls back as unreadable (status 1) when it has no mount of the image to read it from, and counts it', async () => {
    writeMap([{ path: '/data/inline', size: 3, fallback: 'inline' }]);
    const result = await runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(1);
    expect(result.unreadable[0]).toMatch(/\/data\/inline: .*not in plain extents \(inline\).*no read-only mount/);
    expect(result.offhost).toMatchObject({ fallbackFiles: 1, fallbackReasons: { inline: 1 }, deviceBytesRead: 0 });
  });

  it('refuses a forged map whose ranges run past the file, with 20, and leaves nothing in the store', async () => {
    writeMap([{ path: '/data/f0', size: 4 * KiB, ranges: [{ fileOffset: 0, deviceOffset: 0, bytes: 8 * KiB }] }]);
    const failure = await failureOf(runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(failure.message).toMatch(/past the file/);
    expect(readdirSync(unit, { recursive: true }).filter((f) => String(f).includes('fragment') || String(f).endsWith('.json'))).toEqual([]);
  });

  it('writes the attributes a map entry carries as the pax records a file-level backup writes, and indexes them', async () => {
    const acl = { access: 'user::rw-\nuser:1234:rw-\ngroup::r--\nmask::rw-\nother::r--\n' };
    writeMap([{ path: '/data/f0', size: 1, ranges: [{ fileOffset: 0, deviceOffset: 0, bytes: 1 }], xattrs: { 'user.color': Buffer.from('blue').toString('base64'), 'user.bin': Buffer.from([0, 1, 255]).toString('base64') }, acl }]);
    const task = backupTask(unit, ['/data']);
    const result = await runMover({ task, map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(0);
    const fragment = readdirSync(unit, { recursive: true }).map(String).find((f) => /fragment-.*\.tar$/.test(f))!;
    const bytes = readFileSync(path.join(unit, fragment));
    for (const record of [Buffer.from('SCHILY.xattr.user.color=blue\n'), Buffer.concat([Buffer.from('SCHILY.xattr.user.bin='), Buffer.from([0, 1, 255, 10])]), Buffer.from(`SCHILY.acl.access=${acl.access}\n`)]) {
      expect(bytes.includes(record), `${record.toString('latin1')} in the fragment`).toBe(true);
    }
    const indexed = await readIndexEntries(new FsObjectStore(unit), result);
    expect(indexed.get('/data/f0')).toMatchObject({ xattrs: { 'user.color': Buffer.from('blue').toString('base64') }, acl });
  });

  it('lists the attributes the agent could not read, and a note of the map, as problems (status 1)', async () => {
    writeMap([{ path: '/data/f0', size: 1, ranges: [{ fileOffset: 0, deviceOffset: 0, bytes: 1 }], attrsProblem: 'extended attributes not read (getfattr: Permission denied)' }]);
    writeFileSync(mapFile, `${readFileSync(mapFile, 'utf8')}${JSON.stringify({ kind: 'note', reason: 'extended attributes and ACLs not read: cannot run getfattr' })}\n`);
    const result = await runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() });
    expect(result.statusCode).toBe(1);
    expect(result.unreadable.join('\n')).toMatch(/\/data\/f0: extended attributes not read \(getfattr: Permission denied\)/);
    expect(result.unreadable).toContain('extended attributes and ACLs not read: cannot run getfattr');
  });

  it.each([
    ['a value that is not base64', { xattrs: { 'user.x': 'not base64!' } }, /not base64/],
    ['an ACL that is not in long text form', { acl: { access: 'user:1234:rw-; rm -rf /' } }, /not an ACL in long text form/],
    ['an ACL passed as an attribute', { xattrs: { 'system.posix_acl_access': 'AAAA' } }, /ACLs go in `acl`/],
    ['an attribute name without a namespace', { xattrs: { color: 'AAAA' } }, /not an attribute name/],
    ['an attribute name with a NUL', { xattrs: { 'user.a\u0000b': 'AAAA' } }, /not an attribute name/],
  ])('refuses a map entry with %s, with 20', async (_what, attrs, message) => {
    writeMap([{ path: '/data/f0', size: 1, ranges: [{ fileOffset: 0, deviceOffset: 0, bytes: 1 }], ...attrs }]);
    const failure = await failureOf(runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(failure.message).toMatch(message);
  });

  it('refuses a map of the format before attributes (cairn-extent-map-1), with 20', async () => {
    writeMap([{ path: '/data/f0', size: 1, ranges: [{ fileOffset: 0, deviceOffset: 0, bytes: 1 }] }], { format: 'cairn-extent-map-1' as typeof MAP_FORMAT });
    const failure = await failureOf(runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(failure.message).toMatch(/does not start with a map head/);
  });

  it('refuses a device of another size than the one mapped (156), before writing anything', async () => {
    writeMap([{ path: '/data/f0', size: 1, ranges: [{ fileOffset: 0, deviceOffset: 0, bytes: 1 }] }], { deviceBytes: 512 * KiB });
    const failure = await failureOf(runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() }));
    expect(failure.statusCode).toBe(StatusCode.SNAPSHOT_ERROR);
    expect(failure.message).toMatch(/not a block device \(or an image file\) of the 524288 bytes mapped/);
  });

  it('stops with 150 when aborted mid-way and removes what it wrote', async () => {
    // Many files, so the abort lands while the image is being written.
    writeMap(Array.from({ length: 400 }, (_, i) => ({ path: `/data/f${String(i).padStart(3, '0')}`, size: 4 * KiB, ranges: [{ fileOffset: 0, deviceOffset: (i % 60) * 4 * KiB, bytes: 4 * KiB }] })));
    const stop = new AbortController();
    const reporter = recordingReporter();
    const store = new FsObjectStore(unit);
    setTimeout(() => stop.abort(), 5);
    const failure = await failureOf(runMover({ task: backupTask(unit, ['/data']), map: mapFile }, { store, reporter, now: () => new Date(), signal: stop.signal }));
    expect(failure.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expect((await store.list('')).filter((k) => !k.startsWith('claims/'))).toEqual([]);
  });
});
