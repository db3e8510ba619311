import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { runBackup } from '#agent/image/backup.ts';
import { planImage, type ImagePlan } from '#agent/restore/restore-plan.ts';
import { runPlans, type RestoreResult } from '#agent/restore/restore.ts';
import { pieceCarry } from '#agent/tape/tape-restore-read.ts';
import { ProblemList } from '#agent/reader/problems.ts';
import type { Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { indexLines } from './forge.ts';
import { backupTask, catalogImage, patterned, recordingReporter } from './helpers.ts';

const MiB = 1024 * 1024;

/** Every file under `dir` (relative paths), to find leftovers such as partial files. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/**
 * The restore side of a tape restore job's Reads (tape-restore-read.ts),
 * on a disk unit: each "Read" is a pass of its own (a new plan, a new
 * extractor) over a group of the image's fragments, as each volume's Read
 * is, carrying a pieced file between them as the job does (`pieceCarry`).
 */
describe('a pieced file joined across Reads', () => {
  let root: string;
  let source: string;
  let unit: string;
  let image: Image;
  let big: IndexEntry;
  const BIG = 5 * MiB + 777;

  beforeAll(async () => {
    mkdirSync('/tmp/pieced-reads', { recursive: true });
    root = mkdtempSync('/tmp/pieced-reads/reads-');
    source = path.join(root, 'src');
    unit = path.join(root, 'unit');
    mkdirSync(path.join(source, 'a'), { recursive: true });
    mkdirSync(path.join(source, 'z'), { recursive: true });
    writeFileSync(path.join(source, 'a', 'small.txt'), 'small\n');
    writeFileSync(path.join(source, 'big.bin'), patterned(BIG, 1));
    writeFileSync(path.join(source, 'z', 'after.txt'), patterned(3000, 2));
    const storageUnit = { name: 'disk1', kind: 'disk' as const, path: unit, fragmentSizeBytes: MiB, pieceBytes: MiB };
    const task = backupTask(unit, [source], { storageUnit });
    const result = await runBackup(task, { store: new FsObjectStore(unit), reporter: recordingReporter(), now: () => new Date() });
    image = catalogImage(task, result);
    big = (await indexLines(new FsObjectStore(unit), image)).find((l) => l.path === path.join(source, 'big.bin'))!;
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** The fragments in three groups ("volumes"), split inside the pieced file's runs. */
  const groups = (): number[][] => {
    const numbers = image.copies[0]!.fragments.map((f) => f.number);
    const runs = big.pieces!.map((p) => p.fragment);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    const cut1 = numbers.indexOf(runs[1]!);
    const cut2 = numbers.indexOf(runs[3]!);
    return [numbers.slice(0, cut1), numbers.slice(cut1, cut2), numbers.slice(cut2)];
  };

  /** One Read of `fragments`: planned afresh, run through its own extractor, with the job's carry. */
  const read = async (targetDir: string, fragments: number[], first: boolean, paths?: string[], continueOnError = false): Promise<RestoreResult> => {
    const failures = new ProblemList();
    const plan: ImagePlan = await planImage({ store: new FsObjectStore(unit), image, selection: paths ? { kind: 'paths', paths } : { kind: 'all' }, failures });
    const onVolume = new Set(fragments);
    const carry = await pieceCarry(plan, onVolume, '7');
    return runPlans([{ ...plan, fragments: plan.fragments.filter((f) => onVolume.has(f.number)) }], { targetDir, existing: first ? 'refuse' : 'overwrite', continueOnError, failures, subject: `image ${image.backupId}`, carry });
  };

  it('restores the file byte for byte over three Reads, keeping only a private partial file between them', async () => {
    for (const paths of [undefined, [path.join(source, 'big.bin')]]) {
      const target = path.join(mkdtempSync(path.join(root, 'ok-')), 'target');
      const [one, two, three] = groups();
      const first = await read(target, one!, true, paths);
      expect(first.failures).toEqual([]);
      const partials = filesUnder(target).filter((f) => f.includes('.cairn-partial-7-'));
      expect(partials).toHaveLength(1);
      expect(existsSync(path.join(target, source, 'big.bin'))).toBe(false);
      expect((await read(target, two!, false, paths)).failures).toEqual([]);
      expect(filesUnder(target).filter((f) => f.includes('.cairn-'))).toEqual(partials);
      const last = await read(target, three!, false, paths);
      expect(last.failures).toEqual([]);
      expect(readFileSync(path.join(target, source, 'big.bin')).equals(patterned(BIG, 1))).toBe(true);
      expect(filesUnder(target).filter((f) => f.includes('.cairn-'))).toEqual([]);
    }
  });

  it('refuses a partial file of the wrong size or missing, naming it, and leaves nothing under the file name', async () => {
    for (const forge of ['grow', 'missing'] as const) {
      const target = path.join(mkdtempSync(path.join(root, `${forge}-`)), 'target');
      const [one, two] = groups();
      await read(target, one!, true);
      const partial = path.join(target, filesUnder(target).find((f) => f.includes('.cairn-partial-7-'))!);
      if (forge === 'grow') appendFileSync(partial, 'x');
      else renameSync(partial, `${partial}.moved`);
      const failed = await read(target, two!, false).then(
        () => undefined,
        (error: unknown) => error as Error & { details?: string[] },
      );
      expect(failed?.message).toContain(`${path.join(source, 'big.bin')}: not restored: its partial file ${partial}`);
      expect(failed?.message).toContain(forge === 'grow' ? `holds ${big.pieces![1]!.fileOffset + 1} bytes, and the index places the pieces on this volume from file byte ${big.pieces![1]!.fileOffset}` : 'is not there');
      expect(existsSync(path.join(target, source, 'big.bin'))).toBe(false);
      expect(existsSync(partial)).toBe(false);
    }
  });

  it('with continue-on-error, lists the file once for a refused partial file, restores the rest, and leaves no partial file', async () => {
    const target = path.join(mkdtempSync(path.join(root, 'best-')), 'target');
    const [one, two, three] = groups();
    await read(target, one!, true, undefined, true);
    const partial = path.join(target, filesUnder(target).find((f) => f.includes('.cairn-partial-7-'))!);
    appendFileSync(partial, 'x');
    const second = await read(target, two!, false, undefined, true);
    expect(second.failures).toEqual([expect.stringContaining(`${path.join(source, 'big.bin')}: not restored: its partial file ${partial} holds`)]);
    expect(existsSync(partial)).toBe(false);
    const third = await read(target, three!, false, undefined, true);
    expect(third.failures).toEqual([expect.stringContaining('is not there')]);
    expect(existsSync(path.join(target, source, 'big.bin'))).toBe(false);
    expect(readFileSync(path.join(target, source, 'z', 'after.txt')).equals(patterned(3000, 2))).toBe(true);
    expect(filesUnder(target).filter((f) => f.includes('.cairn-'))).toEqual([]);
  });
});
