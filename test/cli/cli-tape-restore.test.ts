import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '#core/model/job.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';
import { tempDir } from '#test/edge-agent/helpers.ts';
import { runCairn, type CliResult } from './cli-process.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';

const skip = diskChangerSkipReason();
const AT = new Date('2026-12-03T04:00:00.000Z');

/**
 * `cairn restore` of a tape image as an operator runs it (real `cairn`
 * processes, one --home, Debian's disk-changer library): the restore is a
 * job, shown with its volumes by `cairn jobs`.
 */
describe.skipIf(Boolean(skip))(`cairn restore of a tape image${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let home: { dir: string; cleanup: () => void };
  let source: string;
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home.dir, args);
  beforeAll(() => {
    library = diskChangerLibrary({ slots: 4, drives: 2, barcodes: { 1: 'VOL001', 2: 'VOL002' } });
    home = tempDir('cli-tape-restore');
    source = join(home.dir, 'source');
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
  });
  afterAll(async () => {
    await library.cleanup();
    home.cleanup();
  });

  it('restores the image through a restore job, shows where it is and how it ended, and lists the job with its volume', async () => {
    // The library, pool and units as \`cairn robot add\`, \`robot inventory\`, \`pool add\` and \`storage-unit add\` record them
    // (test/cli/cli-tape.test.ts runs those commands), and a backup to tape, in process: each cairn process costs seconds here.
    const runtime = await openLocalRuntime({ home: home.dir });
    let backupId: string;
    let backupJobId: number;
    try {
      await runtime.emm.addRobot({ name: 'vtl', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 64 * 1024 * 1024 }, AT);
      for (const [index, path] of library.drives.entries()) await runtime.emm.addDrive({ name: `vtl-d${index}`, robot: 'vtl', index, path, blockSize: 64 * 1024 });
      await runtime.emm.addPool({ name: 'daily' });
      for (const [slot, mediaId] of [[1, 'VOL001'], [2, 'VOL002']] as const) await runtime.emm.addMedia(newMedia(mediaId, AT, { robot: 'vtl', slot }));
      await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'vtl', pool: 'daily', index: { name: 'idx', kind: 'disk', path: join(home.dir, 'idx') } }));
      const backup = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
      expect(backup.statusCode, backup.error).toBe(0);
      backupId = backup.backupId!;
      backupJobId = backup.jobId!;
    } finally {
      runtime.close();
    }

    const target = join(home.dir, 'restore');
    const restored = await cairn('restore', '--backup-id', backupId, '--to', target);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toMatch(/^restore job (\d+): image host1_\d+ to .*\/restore$/m);
    expect(restored.stderr).toMatch(/^restore job \d+ ended with status 0 \(.*\): \d+ entries, .* from 1 volume \(VOL001\)$/m);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    const jobId = Number(/^restore job (\d+)/m.exec(restored.stderr)![1]);

    // A single-file restore with --json, while the jobs are listed.
    const one = join(source, 'docs', 'file-05-4096.bin');
    const [single, listed, table, shown, shownJson, backupShown] = await Promise.all([
      cairn('restore', '--backup-id', backupId, '--to', join(home.dir, 'one'), '--path', one, '--json'),
      cairn('jobs', '--json'),
      cairn('jobs'),
      cairn('jobs', 'show', String(jobId)),
      cairn('jobs', 'show', String(jobId), '--json'),
      cairn('jobs', 'show', String(backupJobId)),
    ]);
    expect(single.code, single.stderr).toBe(0);
    expect(JSON.parse(single.stdout)).toMatchObject({ backupId, statusCode: 0, files: 1, volumes: [{ mediaId: 'VOL001', read: true }], notRestored: [] });
    expect(readFileSync(join(home.dir, 'one', one)).equals(readFileSync(one))).toBe(true);
    expect((JSON.parse(listed.stdout) as Job[]).find((j) => j.jobId === jobId)).toMatchObject({ type: 'restore', state: 'DONE', statusCode: 0, source: { backupId }, volumes: [{ mediaId: 'VOL001', read: true }] });
    expect(table.stdout).toContain(`${backupId} from VOL001`);
    expect(shown.stdout).toMatch(/volumes\s+VOL001 \(fragments 1.*read: \d+ entries/);
    // The drive each job was given: the restore's and the backup's.
    expect(shown.stdout).toMatch(/^drives\s+vtl-d0$/m);
    expect(JSON.parse(shownJson.stdout)).toMatchObject({ jobId, drives: ['vtl-d0'] });
    expect(backupShown.stdout).toMatch(/^volumes\s+VOL001$/m);
    expect(backupShown.stdout).toMatch(/^drives\s+vtl-d0$/m);
  }, 180_000);
});
