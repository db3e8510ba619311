import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { extract as tarExtract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { fragmentChecksum } from '#agent/image/fragment-digest.ts';
import { objectStoreFragmentSource } from '#agent/image/object-store-fragments.ts';
import { memberName } from '#agent/image/tar-member.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { CairnError } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupTaskResult, IndexEntry } from '#core/model/task.ts';
import { readAll } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { keyOf } from './forge.ts';
import { backupTask, catalogImage, patterned, recordingReporter, snapshotTree, tempDir, type TreeNode } from './helpers.ts';

const MiB = 1024 * 1024;
const GNU_TAR = '/usr/bin/tar';
const hasGnuTar = existsSync(GNU_TAR) && execFileSync(GNU_TAR, ['--version']).toString().includes('GNU tar');
const hasZstd = spawnSync('zstd', ['--version']).status === 0;

/** Text-like files (compressible), random ones (not), one file larger than a fragment, small files, links. */
function buildTree(root: string): void {
  const file = (relative: string, content: Buffer | string): void => {
    mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
    writeFileSync(path.join(root, relative), content);
  };
  for (let i = 0; i < 40; i++) file(`logs/day-${i}.log`, `line ${i}: the quick brown fox jumps over the lazy dog\n`.repeat(500 + i * 37));
  for (let i = 0; i < 6; i++) file(`random/r${i}.bin`, randomBytes(300_000 + i * 1111));
  file('big/two-and-a-half-mib.bin', patterned(2.5 * MiB, 42));
  file('big/one-mib.bin', patterned(MiB, 43));
  for (let i = 0; i < 50; i++) file(`small/s${i}.txt`, `small ${i}\n`);
  file('empty.bin', '');
  symlinkSync('logs/day-1.log', path.join(root, 'latest.log'));
}

function expectSameFiles(actual: Map<string, TreeNode>, expected: Map<string, TreeNode>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [relative, want] of expected) {
    const got = actual.get(relative)!;
    expect({ relative, type: got.type, size: got.size, mode: got.mode, target: got.target }).toEqual({ relative, type: want.type, size: want.size, mode: want.mode, target: want.target });
    if (want.content) expect(got.content!.equals(want.content), `${relative} content`).toBe(true);
  }
}

describe('backup and restore through a compressed disk storage unit', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let scratch: ReturnType<typeof tempDir>;
  let store: FsObjectStore;
  let result: BackupTaskResult;
  let image: Image;
  let sourceTree: Map<string, TreeNode>;
  let entries: IndexEntry[];

  beforeAll(async () => {
    source = tempDir('zsrc');
    unit = tempDir('zunit');
    scratch = tempDir('zscratch');
    store = new FsObjectStore(unit.dir);
    buildTree(source.dir);
    sourceTree = snapshotTree(source.dir);
    const task = backupTask(unit.dir, [source.dir], {
      storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: MiB, compression: { codec: 'zstd', level: 1 } },
    });
    result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() });
    image = catalogImage(task, result);
    entries = [];
    for await (const entry of readIndex(store, result.indexKey, result.indexSha256)) entries.push(entry);
  });

  afterAll(() => {
    source.cleanup();
    unit.cleanup();
    scratch.cleanup();
  });

  it('stores every fragment compressed (.tar.zst), with its encoding, the stored bytes, and the tar-members-1 checksum of its tar archive', async () => {
    expect(result.statusCode).toBe(0);
    expect(result.fragments.length).toBeGreaterThanOrEqual(3);
    let tarBytes = 0;
    for (const fragment of result.fragments) {
      expect(keyOf(fragment)).toMatch(/\/fragment-\d{5}\.tar\.zst$/);
      expect(fragment.encoding).toMatchObject({ codec: 'zstd-seekable', frameBytes: 256 * 1024 });
      const stored = await readAll(await store.get(keyOf(fragment)));
      expect(stored.length).toBe(fragment.bytes);
      expect(fragment.checksum).toBe('tar-members-1');
      const tar = await readAll(await objectStoreFragmentSource(store, 'disk1').read(fragment));
      const checksum = fragmentChecksum(fragment);
      checksum.update(tar);
      expect(checksum.digest('hex')).toBe(fragment.sha256);
      tarBytes += fragment.encoding!.tarBytes;
    }
    expect(image.copies[0]!.fragments).toEqual(result.fragments);
    // The logs compress well; the random files do not: the whole is still clearly smaller.
    expect(result.bytes).toBeLessThan(tarBytes * 0.8);
  });

  it('indexes tar offsets: a ranged read of the source at a line\'s offset starts with its member header', async () => {
    const source = objectStoreFragmentSource(store, 'disk1');
    for (const entry of entries) {
      const fragment = result.fragments[entry.fragment - 1]!;
      const body = await source.read(fragment, { start: entry.offset, end: entry.offset + 4096 });
      const parser = tarExtract();
      const first = new Promise<string>((resolve, reject) => {
        parser.on('entry', (header, stream) => {
          resolve(header.name);
          stream.resume();
          parser.destroy();
        });
        parser.on('error', reject);
      });
      for await (const chunk of body) parser.write(chunk);
      expect(await first).toBe(memberName(entry.path, entry.type === 'directory' ? 'directory' : 'file'));
    }
  });

  it('reads a 1 MiB file\'s member by its index offsets with under 2 MiB of stored data (seek table and covering frames)', async () => {
    const at = entries.findIndex((e) => e.path.endsWith('big/one-mib.bin'));
    const entry = entries[at]!;
    const next = entries[at + 1];
    const fragment = result.fragments[entry.fragment - 1]!;
    const end = next && next.fragment === entry.fragment ? next.offset : fragment.encoding!.tarBytes;
    let read = 0;
    const counting = new Proxy(store, {
      get(target, property) {
        if (property !== 'get') return Reflect.get(target, property, target) as unknown;
        return async (key: string, range?: { start: number; end?: number }) => {
          const body = await target.get(key, range);
          return (async function* () {
            for await (const chunk of body) {
              read += chunk.byteLength;
              yield chunk;
            }
          })();
        };
      },
    });
    const member = await readAll(await objectStoreFragmentSource(counting, 'disk1').read(fragment, { start: entry.offset, end }));
    expect(member.length).toBe(end - entry.offset);
    // The range starts at the member's first header and holds its whole data.
    const parser = tarExtract();
    const first = new Promise<{ name: string; data: Buffer }>((resolve, reject) => {
      parser.on('entry', (header, stream) => {
        void readAll(stream as unknown as AsyncIterable<Uint8Array>).then((data) => {
          resolve({ name: header.name, data });
          parser.destroy();
        }, reject);
      });
      parser.on('error', reject);
    });
    parser.end(member);
    const { name, data } = await first;
    expect(name).toBe(memberName(entry.path, 'file'));
    expect(data.equals(sourceTree.get('big/one-mib.bin')!.content!)).toBe(true);
    expect(read).toBeLessThanOrEqual(2 * MiB);
  });

  it('restores the whole tree byte for byte, and selected paths alone', async () => {
    const target = path.join(scratch.dir, 'full');
    const restored = await restoreImage({ store, image, targetDir: target });
    expect(restored.refused).toEqual([]);
    expect(restored.failures).toEqual([]);
    expect(restored.files).toBe(result.fileCount);
    expectSameFiles(snapshotTree(path.join(target, source.dir)), sourceTree);

    const one = path.join(scratch.dir, 'one');
    await restoreImage({ store, image, targetDir: one, paths: [`${source.dir}/big/one-mib.bin`] });
    expect(readFileSync(path.join(one, source.dir, 'big/one-mib.bin')).equals(sourceTree.get('big/one-mib.bin')!.content!)).toBe(true);
  });

  it('is readable by the zstd CLI and GNU tar alone', (context) => {
    if (!hasZstd) return context.skip('the zstd CLI is not installed');
    if (!hasGnuTar) return context.skip('GNU tar is not installed at /usr/bin/tar');
    const target = path.join(scratch.dir, 'gnu');
    mkdirSync(target);
    const files = result.fragments.map((f) => `"${path.join(unit.dir, keyOf(f))}"`).join(' ');
    execFileSync('sh', ['-c', `zstd -dc ${files} | ${GNU_TAR} -xif - -C "${target}"`]);
    expectSameFiles(snapshotTree(path.join(target, source.dir)), sourceTree);
  });

  it('refuses a fragment with a flipped byte with 2001 naming the fragment and the frame, and restores the rest with --continue-on-error', async () => {
    const damagedUnit = tempDir('zdamaged');
    try {
      execFileSync('cp', ['-a', `${unit.dir}/.`, damagedUnit.dir]);
      const damagedStore = new FsObjectStore(damagedUnit.dir);
      const victim = result.fragments[1]!;
      const file = path.join(damagedUnit.dir, keyOf(victim));
      const bytes = readFileSync(file);
      bytes[1000] = bytes[1000]! ^ 0x01;
      writeFileSync(file, bytes);

      const error = await restoreImage({ store: damagedStore, image, targetDir: path.join(scratch.dir, 'damaged') }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CairnError);
      expect((error as CairnError).statusCode).toBe(StatusCode.CORRUPT_IMAGE);
      expect([(error as CairnError).message, ...(error as CairnError).details].join('\n')).toMatch(/fragment 2 \(.*fragment-00002\.tar\.zst\), frame 0 \(tar bytes 0-262144, stored at 0-\d+\) does not decompress/);

      const partial = await restoreImage({ store: damagedStore, image, targetDir: path.join(scratch.dir, 'partial'), continueOnError: true });
      expect(partial.failures.join('\n')).toMatch(/fragment 2 .* frame 0 /);
      // Everything in the other fragments is restored.
      const restored = snapshotTree(path.join(scratch.dir, 'partial', source.dir));
      const inOtherFragments = entries.filter((e) => e.type === 'file' && e.fragment !== 2).map((e) => path.relative(source.dir, e.path));
      for (const relative of inOtherFragments) expect(restored.get(relative)?.content?.equals(sourceTree.get(relative)!.content!), relative).toBe(true);
    } finally {
      damagedUnit.cleanup();
    }
  });
});
