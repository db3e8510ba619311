import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { FrozenImage, cairnSnapshotName, jobIdOfSnapshotName } from '#core/model/snapshot.ts';
import type { SnapshotProvider } from '#core/ports/snapshot-provider.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type OpenStore, describeContract } from './fixtures.ts';

/** A live volume the provider under test can freeze, and what it needs to check that nothing is left behind. */
export interface SnapshotVolume {
  provider: SnapshotProvider;
  /** The root of the live volume (subvolume root, LV or dataset mount point), holding `a.txt`, `dir/b.txt` and `dir/deep/c.txt`. */
  root: string;
  /** Everything a provider could leave on the host (snapshot subvolumes, mount points, volumes, datasets), as names: compared before and after a failed create. */
  leftovers(): Promise<string[]>;
}

/** The files every volume starts with. */
export const SNAPSHOT_VOLUME_FILES: Record<string, string> = { 'a.txt': 'alpha\n', 'dir/b.txt': 'bravo\n'.repeat(1000), 'dir/deep/c.txt': 'charlie\n' };

const AT = '2026-12-03T14:00:00.000Z';

/** Every file under `root` with its content, relative paths sorted. */
async function treeOf(root: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const entry of (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile())) {
    const path = join(entry.parentPath, entry.name);
    tree[path.slice(root.length + 1)] = await readFile(path, 'utf8');
  }
  return Object.fromEntries(Object.entries(tree).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The SnapshotProvider port's contract (core/ports/snapshot-provider.ts), on
 * a real volume of the adapter's kind: probe, create an image that stays
 * frozen while the live files change, delete (twice), exists, names that
 * carry the job id, and a failed create that rejects with 156 and leaves
 * nothing. An adapter whose tools or device are missing here skips with
 * its reason.
 */
export function describeSnapshotProviderContract(adapter: string, open: OpenStore<SnapshotVolume>, skipReason?: string): void {
  describeContract('SnapshotProvider', adapter, open, skipReason, (volume) => {
    const create = (jobId: number, sourceRoot = volume().root) => volume().provider.create({ sourceRoot, name: cairnSnapshotName(jobId, sourceRoot), jobId, createdAt: AT });

    it('probes a path deep in the volume to the volume root, changing nothing', async () => {
      const { provider, root, leftovers } = volume();
      const before = await leftovers();
      expect(await provider.probe(join(root, 'dir/deep/c.txt'))).toEqual({ ok: true, sourceRoot: root });
      expect(await provider.probe(join(root, 'dir'))).toEqual({ ok: true, sourceRoot: root });
      expect(await provider.probe(root)).toEqual({ ok: true, sourceRoot: root });
      expect(await leftovers()).toEqual(before);
    });

    it('refuses to probe a path that does not exist or is not on its kind of volume, with a reason', async () => {
      const { provider, root } = volume();
      const missing = await provider.probe(join(root, 'no-such-dir', 'x'));
      const elsewhere = await provider.probe('/proc/self');
      expect(missing.ok).toBe(false);
      expect(elsewhere).toMatchObject({ ok: false, reason: expect.stringContaining('proc') });
    });

    it('makes a read-only image, named for its job, whose content stays frozen while the live files change', async () => {
      const { provider, root } = volume();
      const image = await create(41);
      try {
        expect(FrozenImage.parse(image)).toEqual(image);
        expect(image).toMatchObject({ method: provider.method, jobId: 41, sourceRoot: root, name: cairnSnapshotName(41, root), createdAt: AT });
        expect(jobIdOfSnapshotName(image.name)).toBe(41);
        expect(await provider.exists(image)).toBe(true);
        const frozen = await treeOf(image.readRoot);
        expect(frozen).toMatchObject(SNAPSHOT_VOLUME_FILES);

        await writeFile(join(root, 'a.txt'), 'rewritten\n');
        await writeFile(join(root, 'dir/new.txt'), 'new\n');
        await rm(join(root, 'dir/deep'), { recursive: true });
        expect(await treeOf(image.readRoot)).toEqual(frozen);
        expect(await readFile(join(root, 'a.txt'), 'utf8')).toBe('rewritten\n');
        await expect(writeFile(join(image.readRoot, 'a.txt'), 'into the image\n')).rejects.toMatchObject({ code: expect.stringMatching(/^(EROFS|EPERM|EACCES)$/) });
      } finally {
        await provider.delete(image);
      }
    });

    it('keeps one image per job: a later image freezes a later instant and never holds the earlier image', async () => {
      const { provider, root } = volume();
      const first = await create(42);
      try {
        await writeFile(join(root, 'a.txt'), 'second instant\n');
        const second = await create(43);
        try {
          expect(second.name).not.toBe(first.name);
          expect(await readFile(join(first.readRoot, 'a.txt'), 'utf8')).toBe(SNAPSHOT_VOLUME_FILES['a.txt']);
          expect(await readFile(join(second.readRoot, 'a.txt'), 'utf8')).toBe('second instant\n');
          // A later job reading its image never backs up an earlier image as data.
          expect(Object.keys(await treeOf(second.readRoot)).filter((path) => path.includes(first.name))).toEqual([]);
          expect(Object.keys(await treeOf(second.readRoot)).sort()).toEqual(Object.keys(SNAPSHOT_VOLUME_FILES).sort());
        } finally {
          await provider.delete(second);
        }
        expect(await provider.exists(first)).toBe(true);
      } finally {
        await provider.delete(first);
      }
    });

    it('tells, changing nothing, the image create makes for a request, so an image whose create was cut short can be deleted', async () => {
      const { provider, root, leftovers } = volume();
      const request = { sourceRoot: root, name: cairnSnapshotName(46, root), jobId: 46, createdAt: AT };
      const before = await leftovers();
      const expected = await provider.imageOf!(request);
      expect(await leftovers()).toEqual(before);
      expect(await provider.exists(expected)).toBe(false);
      const image = await provider.create(request);
      expect(image).toEqual(expected);
      await provider.delete(await provider.imageOf!(request));
      expect(await provider.exists(image)).toBe(false);
      expect(await leftovers()).toEqual(before);
    });

    it('deletes an image, and deleting it again resolves; exists then says false', async () => {
      const { provider, leftovers } = volume();
      const before = await leftovers();
      const image = await create(44);
      expect(await leftovers()).not.toEqual(before);
      await provider.delete(image);
      await provider.delete(image);
      expect(await provider.exists(image)).toBe(false);
      await expect(readdir(image.readRoot)).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await leftovers()).toEqual(before);
    });

    it('rejects a create of a path that is not a volume root with status 156, leaving nothing behind', async () => {
      const { root, leftovers } = volume();
      const before = await leftovers();
      for (const sourceRoot of [join(root, 'no-such-dir'), join(root, 'dir')]) {
        const failure = await create(45, sourceRoot).then(() => undefined, (error: unknown) => error);
        expect(failure).toBeInstanceOf(CairnError);
        expect(failure).toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR, message: expect.stringContaining(sourceRoot) });
      }
      expect(await leftovers()).toEqual(before);
    });

    it('rejects a name that does not carry the job id, a relative root and a bad time with status 156, before making anything', async () => {
      const { provider, root, leftovers } = volume();
      const before = await leftovers();
      await expect(provider.create({ sourceRoot: root, name: cairnSnapshotName(7, root), jobId: 8, createdAt: AT })).rejects.toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR });
      await expect(provider.create({ sourceRoot: root, name: '../../etc', jobId: 8, createdAt: AT })).rejects.toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR });
      await expect(provider.create({ sourceRoot: root.slice(1), name: cairnSnapshotName(8, root), jobId: 8, createdAt: AT })).rejects.toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR });
      await expect(provider.create({ sourceRoot: root, name: cairnSnapshotName(8, root), jobId: 8, createdAt: 'yesterday' })).rejects.toMatchObject({ statusCode: StatusCode.SNAPSHOT_ERROR });
      expect(await leftovers()).toEqual(before);
    });
  });
}
