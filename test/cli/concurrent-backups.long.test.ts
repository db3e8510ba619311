import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBackupId } from '#core/ids.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { patterned } from '../edge-agent/helpers.ts';
import { runCairn } from './cli-process.ts';

const CONCURRENT = 8;
const ROUNDS = 5;

interface BackupOutput {
  jobId: number;
  statusCode: number;
  backupId: string;
  job: { startedAt: string; backupId: string; attempts: unknown[] };
}

/**
 * Eight `cairn backup` processes of one client at once, five rounds: the
 * defect this guards against gave two of them one backup id, and one image
 * restored the other job's data.
 *
 * Ids have one-second resolution, so the eight jobs of a round take eight
 * seconds between them however fast they run (each one that loses a second
 * waits for the next). The rounds are of five clients and run at the same
 * time: each client's eight processes race for its ids exactly as a round
 * of one client alone did, and all forty share the catalog and the unit at
 * once, which is no less contention; the file takes some 10 s, not 48.
 */
describe('concurrent backups of one client', () => {
  let work: string;
  let home: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-concurrent-'));
    home = join(work, 'home');
    const runtime = await openLocalRuntime({ home });
    const unit = (await runtime.config.getStorageUnit('local-disk'))!;
    // Every process of every round at once: none waits for the unit, each races for its client's next id.
    await runtime.config.putStorageUnit(StorageUnit.parse({ ...unit, maxConcurrentJobs: CONCURRENT * ROUNDS }));
    runtime.close();
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it(`gives ${CONCURRENT} jobs × ${ROUNDS} rounds unique ids, never ahead of their start, each image holding its own job's data`, async () => {
    const rounds = await Promise.all(
      Array.from({ length: ROUNDS }, async (_, r) => {
        const round = r + 1;
        const sources = Array.from({ length: CONCURRENT }, (_, i) => {
          const dir = join(work, `r${round}`, `dir${i}`);
          mkdirSync(join(dir, 'sub'), { recursive: true });
          writeFileSync(join(dir, 'own.bin'), patterned(50_000 + i * 1000, round * 100 + i));
          writeFileSync(join(dir, 'sub', 'name.txt'), `round ${round} dir ${i}\n`);
          return dir;
        });
        // One client a round: the eight of a round race each other for that client's ids.
        const results = await Promise.all(sources.map((source) => runCairn(home, ['backup', '--client', `same${round}`, '--path', source, '--json'])));
        return results.map((result, i) => ({ source: sources[i]!, result }));
      }),
    );
    const outputs: { source: string; output: BackupOutput }[] = [];
    for (const { source, result } of rounds.flat()) {
      expect(result.code, result.stderr).toBe(0);
      outputs.push({ source, output: JSON.parse(result.stdout) as BackupOutput });
    }

    const ids = outputs.map((o) => o.output.backupId);
    expect(new Set(ids).size).toBe(CONCURRENT * ROUNDS);
    for (const { output } of outputs) {
      expect(output.statusCode).toBe(0);
      expect(output.job.attempts).toEqual([]);
      // The id is the second the job was granted in: never after its start, never a guess ahead.
      const idMs = parseBackupId(output.backupId).createdAt.getTime();
      const startedMs = Date.parse(output.job.startedAt);
      expect(idMs).toBeLessThanOrEqual(startedMs);
      expect(startedMs - idMs).toBeLessThan(1000);
    }
    // Every image restores its own job's directory, and nothing else (in
    // this process: the backups above were the processes that raced).
    const runtime = await openLocalRuntime({ home });
    try {
      for (const { source, output } of outputs) {
        const image = (await runtime.catalog.getImage(output.backupId))!;
        expect(image.jobId).toBe(output.jobId);
        const store = await openStorageUnit((await runtime.config.getStorageUnit(image.copies[0]!.storageUnit))!);
        const target = join(work, 'restore', output.backupId);
        await restoreImage({ store, image, targetDir: target });
        expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
      }
    } finally {
      runtime.close();
    }
  }, 300_000);
});
