import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { blockMapKey } from '#agent/image/block-map.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { writeCopy } from '#agent/duplicate/write-copy.ts';
import { primaryCopy } from '#core/model/image.ts';
import { imageKeys } from '#core/ids.ts';
import { backupTask, catalogImage, patterned, recordingReporter, tempDir } from './helpers.ts';

/**
 * writeCopy finds the objects of a copy from the catalog record and its
 * index, never by listing the source: the cloud agent's S3 grant has no
 * s3:ListBucket (core/policies/agent-grants.ts), so a listing would fail
 * with AccessDenied, and a listing would also copy objects no record
 * vouches for.
 */
const MiB = 1024 * 1024;
const dirs: Array<ReturnType<typeof tempDir>> = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.cleanup();
});

/** A store whose listing fails as S3 does for a caller without s3:ListBucket. */
class UnlistableStore extends FsObjectStore {
  override async list(prefix: string): Promise<string[]> {
    throw new Error(`AccessDenied: not allowed to list ${prefix}`);
  }
}

async function backedUp(largeFile: boolean) {
  const work = tempDir('write-copy-objects');
  dirs.push(work);
  const source = path.join(work.dir, 'source');
  mkdirSync(source);
  writeFileSync(path.join(source, 'small.txt'), 'small file\n');
  // Past the 1 MiB large-file threshold below: stored by blocks, with its block map in blocks.bin.
  if (largeFile) writeFileSync(path.join(source, 'large.bin'), patterned(2 * MiB, 3));
  const unit = path.join(work.dir, 'disk1');
  const task = backupTask(unit, [source], { storageUnit: { name: 'disk1', kind: 'disk', path: unit } });
  const image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date(), largeFileBytes: MiB }));
  return { work, unit, image, target: path.join(work.dir, 'disk2') };
}

describe('writeCopy without listing the source', () => {
  it('copies the fragments, the index, the manifest and the block map an index entry points into, and nothing else', async () => {
    const { unit, image, target } = await backedUp(true);
    const blocks = blockMapKey(image.backupId);
    expect(existsSync(path.join(unit, blocks))).toBe(true);
    // An object no record names, in the image's folder: not copied.
    const stray = `${imageKeys(image.backupId).prefix}/stray.bin`;
    writeFileSync(path.join(unit, stray), 'not vouched for');

    const written = await writeCopy({ image, from: { copy: primaryCopy(image), store: new UnlistableStore(unit) }, to: { storageUnit: 'disk2', store: new FsObjectStore(target) }, copyNumber: 2 });

    expect(readFileSync(path.join(target, blocks))).toEqual(readFileSync(path.join(unit, blocks)));
    expect(existsSync(path.join(target, stray))).toBe(false);
    const copy = primaryCopy(image);
    // Fragments, index, block map, and the manifest written last.
    expect(written.objects).toBe(copy.fragments.length + 3);
    for (const key of [...copy.fragments.map((f) => (f.location.kind === 'object' ? f.location.key : '')), copy.indexKey]) expect(readFileSync(path.join(target, key))).toEqual(readFileSync(path.join(unit, key)));
  });

  it('copies no block map when no index entry has one', async () => {
    const { unit, image, target } = await backedUp(false);
    const written = await writeCopy({ image, from: { copy: primaryCopy(image), store: new UnlistableStore(unit) }, to: { storageUnit: 'disk2', store: new FsObjectStore(target) }, copyNumber: 2 });
    expect(written.objects).toBe(primaryCopy(image).fragments.length + 2);
    expect(existsSync(path.join(target, blockMapKey(image.backupId)))).toBe(false);
  });

  it('fails with 2001 naming the block map when the index points into one that is missing', async () => {
    const { unit, image, target } = await backedUp(true);
    const { rmSync } = await import('node:fs');
    rmSync(path.join(unit, blockMapKey(image.backupId)));
    await expect(writeCopy({ image, from: { copy: primaryCopy(image), store: new UnlistableStore(unit) }, to: { storageUnit: 'disk2', store: new FsObjectStore(target) }, copyNumber: 2 })).rejects.toMatchObject({
      statusCode: 2001,
      message: expect.stringContaining('blocks.bin'),
    });
  });
});
