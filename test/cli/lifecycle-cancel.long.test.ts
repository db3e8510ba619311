import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalRuntime } from '#local/runtime.ts';
import { runCairn, spawnCairn, type CliResult } from './cli-process.ts';

/**
 * `cairn jobs cancel` of a `cairn duplicate` midway through writing a disk
 * copy of 200 MiB (both real processes): the duplicate stops within
 * seconds (between two objects, within one, or in its read-back: where it
 * is when the cancel command has started depends on the machine), its job
 * ends 150, nothing is catalogued (the objects written so far stay
 * uncatalogued under the copy's folder), and the next duplicate makes the copy. Slow (the image is made by a real backup first), so a
 * `*.long.test.ts`; test/cli/lifecycle-cancel.test.ts is the quick one.
 */
describe('cairn jobs cancel of a duplicate while it writes', () => {
  let work: string;
  let home: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home, args);

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cairn-cancel-long-'));
    home = join(work, 'home');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('stops the copy before it is catalogued, ends the job 150, catalogues nothing, and a later duplicate makes the copy', async () => {
    const source = join(work, 'source');
    mkdirSync(source, { recursive: true });
    for (let i = 0; i < 100; i++) writeFileSync(join(source, `f${i}.bin`), randomBytes(2 * 1024 * 1024));
    expect((await cairn('storage-unit', 'add', '--name', 'd1', '--kind', 'disk', '--path', join(work, 'd1'), '--fragment-mib', '1')).code).toBe(0);
    expect((await cairn('storage-unit', 'add', '--name', 'd2', '--kind', 'disk', '--path', join(work, 'd2'))).code).toBe(0);
    const backup = await cairn('backup', '--client', 'host1', '--path', source, '--storage-unit', 'd1', '--json');
    expect(backup.code, backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };

    const { exited } = spawnCairn(home, ['duplicate', '--backup-id', backupId, '--to', 'd2', '--json']);
    const runtime = await openLocalRuntime({ home });
    let jobId: number | undefined;
    try {
      const deadline = Date.now() + 60_000;
      while (jobId === undefined && Date.now() < deadline) {
        jobId = (await runtime.jobs.list({ state: 'ACTIVE', limit: 10 })).find((j) => j.type === 'duplicate')?.jobId;
        if (jobId === undefined) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      runtime.close();
    }
    expect(jobId, 'the duplicate job never became ACTIVE').toBeDefined();

    const cancel = await cairn('jobs', 'cancel', String(jobId));
    expect(cancel.code, cancel.stderr).toBe(0);
    const cancelledAt = Date.now();
    const end = await exited;
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expect(end.code).toBe(2);

    const jobs = JSON.parse((await cairn('jobs', '--json')).stdout) as { jobId: number; state: string; statusCode?: number; error?: string }[];
    expect(jobs.find((j) => j.jobId === jobId)).toMatchObject({ state: 'DONE', statusCode: 150, error: expect.stringMatching(/^cancelled by an administrator \(/) });
    const images = JSON.parse((await cairn('images', '--json')).stdout) as { backupId: string; copies?: unknown[] }[];
    expect(images.find((i) => i.backupId === backupId)!.copies).toHaveLength(1);
    // What it wrote (some objects, or all of them when the cancel came during its read-back) is no copy: only the
    // image's own keys, no partial write, and nothing above names it.
    const folder = join(work, 'd2', 'images', 'host1', backupId);
    const written = existsSync(folder) ? readdirSync(folder) : [];
    expect(written.filter((name) => !/^(fragment-\d+\.tar(\.zst)?|index.*|manifest\.json|.*block.*)$/.test(name))).toEqual([]);

    const again = await cairn('duplicate', '--backup-id', backupId, '--to', 'd2', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ backupId, copyNumber: 2, storageUnit: 'd2' });
  }, 600_000);
});
