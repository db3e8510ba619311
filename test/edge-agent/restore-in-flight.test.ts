import { chmodSync, linkSync, lutimesSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { objectStoreFragmentSource } from '#agent/image/object-store-fragments.ts';
import { InFlight } from '#agent/restore/in-flight.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import type { Fragment, Image } from '#core/model/image.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import { StatusCode } from '#core/status-codes.ts';
import { backupTask, catalogImage, failureOf, patterned, recordingReporter, snapshotTree, tempDir, type TreeNode } from './helpers.ts';

const DIRS = 20;
const FILES_PER_DIR = 100;

/**
 * 2,000 small files (0 to about 6 KiB, modes and mtimes of their own) in 20
 * directories of distinct modes, every 10th file with a second hard link in
 * another directory and every 10th with one right after it (the link's
 * member must wait for its file, still in flight), a symlink per directory,
 * and one 3 MiB file and one 6 MiB file (streamed, not buffered).
 */
function buildTree(root: string): void {
  for (let d = 0; d < DIRS; d++) {
    const dir = path.join(root, `d${String(d).padStart(2, '0')}`);
    mkdirSync(dir);
    for (let f = 0; f < FILES_PER_DIR; f++) {
      const file = path.join(dir, `f${String(f).padStart(3, '0')}`);
      writeFileSync(file, patterned((d * 131 + f * 61) % 6000, d * 1000 + f));
      chmodSync(file, [0o644, 0o600, 0o755, 0o444][f % 4]!);
      utimesSync(file, 1_600_000_000 + f, 1_600_000_000 + d * 1000 + f);
      if (f % 10 === 0 && d > 0) linkSync(file, path.join(root, `d${String(d - 1).padStart(2, '0')}`, `link-to-d${d}-f${f}`));
      // The next member in walk order: its link must wait for the file, which is still being written.
      if (f % 10 === 5) linkSync(file, `${file}-link`);
    }
    symlinkSync(`../d00/f00${d % 10}`, path.join(dir, 'sym'));
    lutimesSync(path.join(dir, 'sym'), 1_500_000_000, 1_500_000_000 + d);
  }
  writeFileSync(path.join(root, 'd15', 'big-3m'), patterned(3 * 1024 * 1024 + 7, 77));
  writeFileSync(path.join(root, 'd16', 'big-6m'), patterned(6 * 1024 * 1024 + 9, 78));
  for (let d = 0; d < DIRS; d++) {
    const dir = path.join(root, `d${String(d).padStart(2, '0')}`);
    chmodSync(dir, [0o755, 0o750, 0o711][d % 3]!);
    utimesSync(dir, 1_650_000_000, 1_650_000_000 + d);
  }
}

function expectSameTree(actual: Map<string, TreeNode>, expected: Map<string, TreeNode>): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [relative, want] of expected) {
    const got = actual.get(relative)!;
    expect({ relative, type: got.type, mode: got.mode, size: got.size, target: got.target, nlink: got.nlink }).toEqual({ relative, type: want.type, mode: want.mode, size: want.size, target: want.target, nlink: want.nlink });
    if (want.content) expect(got.content!.equals(want.content), `${relative} content`).toBe(true);
    if (relative !== '') expect(Math.abs(got.mtimeMs - want.mtimeMs), `${relative} mtime`).toBeLessThan(0.001);
  }
}

/** Every file under `dir` that is not a directory: temporary files included. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => !d.isDirectory())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)));
}

describe('a restore with many files in flight', () => {
  let source: ReturnType<typeof tempDir>;
  let unit: ReturnType<typeof tempDir>;
  let scratch: ReturnType<typeof tempDir>;
  let store: FsObjectStore;
  let image: Image;
  let sourceTree: Map<string, TreeNode>;

  beforeAll(async () => {
    source = tempDir('in-flight-src');
    unit = tempDir('in-flight-unit');
    scratch = tempDir('in-flight-target');
    buildTree(source.dir);
    sourceTree = snapshotTree(source.dir);
    store = new FsObjectStore(unit.dir);
    const task = backupTask(unit.dir, [source.dir], { storageUnit: { name: 'disk1', kind: 'disk', path: unit.dir, fragmentSizeBytes: 4 * 1024 * 1024 } });
    image = catalogImage(task, await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date() }));
  }, 60_000);
  afterAll(() => {
    source.cleanup();
    unit.cleanup();
    scratch.cleanup();
  });

  /**
   * What a restore that stopped part way left: every entry under its final
   * name is complete and exact (content, mode, mtime), no temporary file is
   * left, and some but not all files were restored.
   */
  function expectOnlyCompleteFiles(target: string): void {
    const restoredRoot = path.join(target, source.dir);
    const files = allFiles(target);
    expect(files.filter((f) => path.basename(f).startsWith('.cairn-restore-'))).toEqual([]);
    const restored = snapshotTree(restoredRoot);
    let complete = 0;
    for (const [relative, got] of restored) {
      if (got.type !== 'file') continue;
      const want = sourceTree.get(relative)!;
      expect(got.content!.equals(want.content!), `${relative} content`).toBe(true);
      expect({ relative, mode: got.mode, mtimeMs: got.mtimeMs }).toEqual({ relative, mode: want.mode, mtimeMs: want.mtimeMs });
      complete += 1;
    }
    expect(complete).toBeGreaterThan(0);
    expect(complete).toBeLessThan([...sourceTree.values()].filter((n) => n.type === 'file').length);
  }

  it('restores thousands of small files, hard links, symlinks and directories exactly', async () => {
    const target = path.join(scratch.dir, 'full');
    let progressed = 0;

    const result = await restoreImage({ store, image, targetDir: target, onProgress: () => void (progressed += 1) });

    expect(result.refused).toEqual([]);
    expect(result.failures).toEqual([]);
    expect(result.files).toBe(image.fileCount);
    expect(progressed).toBe(result.files);
    expectSameTree(snapshotTree(path.join(target, source.dir)), sourceTree);
    expect(allFiles(target).filter((f) => path.basename(f).startsWith('.cairn-restore-'))).toEqual([]);
  }, 60_000);

  it('leaves no half-written file under its final name when the store fails part way', async () => {
    // A fragment source whose stream breaks after 3 MiB of the first fragment.
    const inner = objectStoreFragmentSource(store, 'disk1');
    const breaking: FragmentSource = {
      read: async (fragment: Fragment) => {
        const body = await inner.read(fragment);
        return (async function* () {
          let bytes = 0;
          for await (const chunk of body) {
            bytes += chunk.byteLength;
            if (bytes > 3 * 1024 * 1024) throw new Error('the connection dropped');
            yield chunk;
          }
        })();
      },
    };
    const target = path.join(scratch.dir, 'broken');

    const failure = await failureOf(restoreImage({ store, image, fragmentSource: breaking, targetDir: target }));

    expect(failure.statusCode).toBe(StatusCode.MEDIA_READ_ERROR);
    expect(failure.message).toMatch(/the connection dropped/);
    expectOnlyCompleteFiles(target);
  }, 60_000);

  it('leaves no half-written file under its final name when cancelled part way', async () => {
    const controller = new AbortController();
    const target = path.join(scratch.dir, 'aborted');

    const failure = await failureOf(
      restoreImage({
        store,
        image,
        targetDir: target,
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.files === 500) controller.abort(new Error('operator cancel'));
        },
      }),
    );

    expect(failure.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expectOnlyCompleteFiles(target);
  }, 60_000);

  it('restores into a non-empty target with `existing: rename`, keeping each displaced entry once', async () => {
    const target = path.join(scratch.dir, 'blocked');
    mkdirSync(path.join(target, source.dir), { recursive: true });
    writeFileSync(path.join(target, source.dir, 'zz-unrelated'), 'kept\n');

    const result = await restoreImage({ store, image, targetDir: target, existing: 'rename' });

    // Restoring into a non-empty target with `rename`: everything restored, the unrelated file left alone.
    expect(result.failures).toEqual([]);
    expect(readFileSync(path.join(target, source.dir, 'zz-unrelated'), 'utf8')).toBe('kept\n');
    const again = await restoreImage({ store, image, targetDir: target, existing: 'rename' });
    // The second time, every file and link is kept aside as NAME.cairn-old before the new one goes in its place.
    const displaced = [...sourceTree.values()].filter((n) => n.type !== 'directory').length;
    // The list is capped at 1,000 lines, then says how many more.
    expect(again.renamed.at(-1)).toBe(`(${displaced - 1000} more not listed)`);
    const tree = snapshotTree(path.join(target, source.dir));
    expect([...tree.keys()].filter((k) => k.endsWith('.cairn-old')).length).toBe(displaced);
    expect([...tree.keys()].filter((k) => k.includes('.cairn-old.'))).toEqual([]);
    expect(tree.get('d03/f007')!.content!.equals(sourceTree.get('d03/f007')!.content!)).toBe(true);
    expect(tree.get('d03/f007.cairn-old')!.content!.equals(sourceTree.get('d03/f007')!.content!)).toBe(true);
  }, 60_000);
});

describe('InFlight', () => {
  const later = (): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } => {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };

  it('holds at most its number of files and its bytes, and always lets one task in', async () => {
    const inFlight = new InFlight({ files: 2, bytes: 100 });
    const a = later();
    const b = later();
    inFlight.add('a', 60, () => a.promise);
    let roomForB = false;
    void inFlight.room(60).then(() => (roomForB = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(roomForB).toBe(false);
    a.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(roomForB).toBe(true);
    inFlight.add('b', 60, () => b.promise);
    inFlight.add('c', 0, () => Promise.resolve());
    await new Promise((r) => setTimeout(r, 5));
    // More than the byte bound fits only when nothing is in flight.
    let roomForBig = false;
    void inFlight.room(1000).then(() => (roomForBig = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(roomForBig).toBe(false);
    b.resolve();
    await inFlight.drain();
    await new Promise((r) => setTimeout(r, 5));
    expect(roomForBig).toBe(true);
  });

  it('lets a later member wait for the task at its path', async () => {
    const inFlight = new InFlight({ files: 8, bytes: 1000 });
    const a = later();
    const order: string[] = [];
    inFlight.add('x/a', 1, () => a.promise.then(() => void order.push('task')));
    const waiting = inFlight.settled('x/a').then(() => order.push('waiter'));
    await inFlight.settled('x/other');
    a.resolve();
    await waiting;
    expect(order).toEqual(['task', 'waiter']);
  });

  it('keeps the first failure and rethrows it from room and drain', async () => {
    const inFlight = new InFlight({ files: 8, bytes: 1000 });
    const first = new Error('first');
    inFlight.add('a', 1, () => Promise.reject(first));
    inFlight.add('b', 1, () => Promise.reject(new Error('second')));
    await expect(inFlight.drain()).rejects.toBe(first);
    await expect(inFlight.room(1)).rejects.toBe(first);
  });
});
