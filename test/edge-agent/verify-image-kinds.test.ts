import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { describeProblem, verifyImage } from '#agent/verify/verify-image.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupTaskInput } from '#core/model/task.ts';
import { copy1, keyOf } from './forge.ts';
import { backupTask, catalogImage, patterned, recordingReporter, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

/** Whether this file system keeps user extended attributes (tmpfs and overlay may not). */
function xattrsWork(dir: string): boolean {
  try {
    const probe = path.join(dir, '.xattr-probe');
    writeFileSync(probe, '');
    execFileSync('setfattr', ['-n', 'user.probe', '-v', 'x', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Verify must never call a good image bad: images with every kind of member
 * Cairn writes (pieces across fragments, a compressed unit, a sparse file,
 * extended attributes, links, a FIFO) verify with no problem; damage to a
 * piece of a file stored in pieces is named as that file.
 */
describe('verify of clean images of every kind', () => {
  let work: ReturnType<typeof tempDir>;
  let source: string;
  let xattrs: boolean;

  beforeAll(() => {
    work = tempDir('verify-kinds');
    source = path.join(work.dir, 'source');
    mkdirSync(path.join(source, 'dir'), { recursive: true });
    writeFileSync(path.join(source, 'dir', 'big.bin'), patterned(2 * MiB + 123_457, 5));
    writeFileSync(path.join(source, 'dir', 'small.txt'), 'small\n');
    // A file with a hole in the middle: a sparse member.
    const sparse = openSync(path.join(source, 'sparse.img'), 'w');
    writeSync(sparse, Buffer.alloc(4096, 1), 0, 4096, 0);
    writeSync(sparse, Buffer.alloc(4096, 2), 0, 4096, 3 * MiB);
    closeSync(sparse);
    appendFileSync(path.join(source, 'dir', 'small.txt'), 'more\n');
    execFileSync('ln', ['-s', 'dir/small.txt', path.join(source, 'link')]);
    execFileSync('ln', [path.join(source, 'dir', 'small.txt'), path.join(source, 'hard')]);
    execFileSync('mkfifo', [path.join(source, 'fifo')]);
    xattrs = xattrsWork(source);
    if (xattrs) execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', path.join(source, 'dir', 'small.txt')]);
  });
  afterAll(() => work.cleanup());

  const backUp = async (name: string, unit: Partial<BackupTaskInput['storageUnit']>): Promise<{ image: Image; store: FsObjectStore }> => {
    const dir = path.join(work.dir, name);
    const task = backupTask(dir, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: dir, fragmentSizeBytes: MiB, ...unit } as BackupTaskInput['storageUnit'] });
    const store = new FsObjectStore(dir);
    return { image: catalogImage(task, await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() })), store };
  };

  it('pieces across fragments, a sparse file, links, a FIFO and (where the file system keeps them) extended attributes', async () => {
    const { image, store } = await backUp('pieces', { pieceBytes: MiB });
    expect(copy1(image).fragments.length).toBeGreaterThan(1);
    const result = await verifyImage({ store, image });
    expect(result.problems.map(describeProblem)).toEqual([]);
    // Each piece is a member of its own.
    expect(result.members).toBeGreaterThan(image.fileCount);

    // One byte of the big file's third piece: the file is named, in the fragment that holds the piece.
    const last = copy1(image).fragments.at(-1)!;
    const file = path.join(work.dir, 'pieces', keyOf(last));
    const bytes = readFileSync(file);
    const at = bytes.indexOf(patterned(2 * MiB + 123_457, 5).subarray(2 * MiB + 1000, 2 * MiB + 1064));
    expect(at).toBeGreaterThan(0);
    bytes[at] = bytes[at]! ^ 1;
    writeFileSync(file, bytes);
    const damaged = await verifyImage({ store, image });
    expect(damaged.problems[0]?.path, describeProblem(damaged.problems[0]!)).toBe(path.join(source, 'dir', 'big.bin'));
  });

  it('a compressed (zstd) unit', async () => {
    const { image, store } = await backUp('zstd', { compression: { codec: 'zstd', level: 1 } });
    const result = await verifyImage({ store, image });
    expect(result.problems.map(describeProblem)).toEqual([]);
    expect(result.filesHashed).toBeGreaterThan(0);
  });
});
