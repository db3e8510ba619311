import { existsSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { readIndex } from '#agent/image/index-reader.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { excludeMatcher } from '#agent/reader/exclude.ts';
import { statSelections, walk } from '#agent/reader/walker.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { backupTask, catalogImage, patterned, recordingReporter, snapshotTree, tempDir } from './helpers.ts';
import { primaryCopy } from '#core/model/image.ts';

/**
 * A snapshot is the client's tree mounted somewhere else. The reader opens
 * the files there and records them under their original names, so the image
 * looks exactly like a backup of the original paths.
 */
describe('reading a tree from another location (a snapshot mount)', () => {
  let work: ReturnType<typeof tempDir>;
  /** The path as the client knows it: deliberately one that does not exist here. */
  let original: string;
  let copy: string;
  beforeEach(() => {
    work = tempDir('source-roots');
    original = `/cairn-original-${path.basename(work.dir)}/data`;
    copy = path.join(work.dir, 'snapshot', 'data');
    mkdirSync(path.join(copy, 'sub', 'deeper'), { recursive: true });
    writeFileSync(path.join(copy, 'top.txt'), 'top\n');
    writeFileSync(path.join(copy, 'sub', 'deeper', 'big.bin'), patterned(300_000, 3));
    writeFileSync(path.join(copy, 'skip.tmp'), 'excluded by its original name\n');
    symlinkSync('../top.txt', path.join(copy, 'sub', 'link'));
    linkSync(path.join(copy, 'top.txt'), path.join(copy, 'sub', 'hard'));
  });
  afterEach(() => work.cleanup());

  it('records every member under the original names, and restores under them', async () => {
    // Prepare
    expect(existsSync(original)).toBe(false);
    const unit = path.join(work.dir, 'unit');
    const store = new FsObjectStore(unit);
    const task = backupTask(unit, [original], { exclude: [`${original}/*.tmp`] });

    // Act
    const result = await runBackup(task, { store, reporter: recordingReporter(), now: () => new Date(), sourceRoots: { [original]: copy } });
    const image = catalogImage(task, result);
    const target = path.join(work.dir, 'restored');
    const restored = await restoreImage({ store, image, targetDir: target });

    // Assess
    expect(result.statusCode).toBe(0);
    const names: string[] = [];
    for await (const entry of readIndex(store, primaryCopy(image).indexKey, primaryCopy(image).indexSha256)) names.push(entry.path);
    expect(names).toEqual([original, `${original}/sub`, `${original}/sub/deeper`, `${original}/sub/deeper/big.bin`, `${original}/sub/hard`, `${original}/sub/link`, `${original}/top.txt`]);
    expect(names.some((name) => name.includes(work.dir))).toBe(false);
    expect(restored.refused).toEqual([]);
    const expected = snapshotTree(copy);
    expected.delete('skip.tmp');
    const got = snapshotTree(path.join(target, original));
    expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, node] of expected) expect({ name, content: got.get(name)?.content, target: got.get(name)?.target }).toEqual({ name, content: node.content, target: node.target });
  });

  it('walks the source but names entries, exclusions and problems by the original paths', async () => {
    // Prepare: a name that is not valid UTF-8 is walked like any other, its bytes kept (core/model/file-name.ts)
    writeFileSync(Buffer.concat([Buffer.from(`${copy}/sub/`), Buffer.from([0x62, 0xff])]), 'x');
    const problems: string[] = [];
    const excluded: string[] = [];
    const exclude = excludeMatcher([`${original}/*.tmp`]);

    // Act
    const { roots, missing } = await statSelections([{ path: original, sourceRoot: copy }, `${original}/sub`, { path: '/cairn-nowhere', sourceRoot: path.join(work.dir, 'gone') }], exclude);
    const entries: { path: string; sourcePath: string }[] = [];
    for await (const entry of walk(roots, { exclude, onProblem: (p, reason) => problems.push(`${p}: ${reason}`), onExcluded: (p) => excluded.push(p) })) {
      entries.push({ path: entry.path, sourcePath: entry.sourcePath });
    }

    // Assess
    expect(roots.map((r) => ({ path: r.path, sourcePath: r.sourcePath }))).toEqual([{ path: original, sourcePath: copy }]);
    expect(missing).toEqual([{ path: '/cairn-nowhere', reason: 'does not exist (ENOENT)' }]);
    expect(entries).toContainEqual({ path: `${original}/sub/deeper/big.bin`, sourcePath: `${copy}/sub/deeper/big.bin` });
    expect(entries.every((e) => e.sourcePath === copy + e.path.slice(original.length))).toBe(true);
    expect(excluded).toEqual([`${original}/skip.tmp`]);
    expect(problems).toEqual([]);
    expect(entries).toContainEqual({ path: `${original}/sub/b\uDCFF`, sourcePath: `${copy}/sub/b\uDCFF` });
  });
});
