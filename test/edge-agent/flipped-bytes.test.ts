import { copy1, keyOf } from './forge.ts';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { CairnError } from '#core/errors.ts';
import type { Image } from '#core/model/image.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { backupTask, catalogImage, recordingReporter, tempDir } from './helpers.ts';

/**
 * 20 flips in `npm test` (its 10-minute budget), the full 60 in `npm run
 * test:large` (CAIRN_TEST_LONG=1; it names this file), which CI runs too.
 */
const FLIPS = process.env.CAIRN_TEST_LONG === '1' ? 60 : 20;

/**
 * One byte flipped at a seeded random place in any object of an image —
 * a fragment, the index or the manifest — then a restore. Whatever the
 * byte, the restore either fails with a status (never exit 0 with wrong
 * data) or restores the tree exactly; it never writes outside its target.
 */
describe('restore of an image with one flipped byte', () => {
  let work: ReturnType<typeof tempDir>;
  let source: string;
  let unit: string;
  let image: Image;
  let objects: string[];

  beforeAll(async () => {
    work = tempDir('flips');
    source = path.join(work.dir, 'source');
    makeSampleTree(source, { largeBytes: 1_500_000 });
    unit = path.join(work.dir, 'unit');
    const task = backupTask(unit, [source]);
    image = catalogImage(task, await runBackup(task, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() }));
    objects = [...copy1(image).fragments.map((f) => keyOf(f)), copy1(image).indexKey, copy1(image).manifestKey];
  });
  afterAll(() => work.cleanup());

  it(`fails with a status or restores exactly, for ${FLIPS} flips`, async () => {
    const seed = Number(process.env.CAIRN_FLIP_SEED ?? Date.now() % 100_000);
    let x = seed;
    const random = (n: number): number => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x % n;
    };
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < FLIPS; i++) {
      // A copy of the unit with one byte of one object flipped.
      const copy = path.join(work.dir, `flip-${i}`);
      copyTree(unit, path.join(copy, 'unit'));
      const key = objects[random(objects.length)]!;
      const file = path.join(copy, 'unit', key);
      const bytes = readFileSync(file);
      const at = random(bytes.length);
      bytes[at] = bytes[at]! ^ (1 << random(8));
      writeFileSync(file, bytes);
      const where = `seed ${seed}, flip ${i}: ${key} byte ${at}`;

      const sandbox = path.join(copy, 'sandbox');
      mkdirSync(sandbox);
      const outcome = await restoreImage({ store: new FsObjectStore(path.join(copy, 'unit')), image, targetDir: path.join(sandbox, 'target') }).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );

      expect(readdirSync(sandbox).filter((name) => name !== 'target'), where).toEqual([]);
      if ('error' in outcome) {
        expect(outcome.error, where).toBeInstanceOf(CairnError);
        const status = (outcome.error as CairnError).statusCode;
        outcomes[`status ${status}`] = (outcomes[`status ${status}`] ?? 0) + 1;
      } else {
        // Only a byte restore does not depend on (a manifest field it ignores) may pass.
        expect(key, where).toBe(copy1(image).manifestKey);
        expect((await compareTrees(source, path.join(sandbox, 'target', source))).differences, where).toEqual([]);
        outcomes['restored exactly'] = (outcomes['restored exactly'] ?? 0) + 1;
      }
    }
    console.log(`${FLIPS} flipped bytes (seed ${seed}): ${JSON.stringify(outcomes)}`);
  }, 120_000);
});

function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copyTree(path.join(from, entry.name), path.join(to, entry.name));
    else copyFileSync(path.join(from, entry.name), path.join(to, entry.name));
  }
}
