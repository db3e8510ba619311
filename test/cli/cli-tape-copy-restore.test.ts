import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LocalRuntime } from '#local/runtime.ts';
import { openLocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { localDuplicateDeps } from '#local/duplicate-deps.ts';
import { duplicateImage } from '#agent/duplicate/duplicate-image.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { compareTrees } from '#cli/demo/compare-trees.ts';
import { tapeLibraryRuntime } from '../local/tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { runCairn } from './cli-process.ts';

const skip = diskChangerSkipReason();
const MARKER = Buffer.from('cairn-copy-fallback-marker-'.repeat(800));

/**
 * `cairn restore` of an image with a copy on tape and one on disk (real
 * processes, Debian's disk-changer library): whichever copy fails, the
 * restore goes on from the other, says so, and the tree comes back byte
 * for byte; nothing stays reserved.
 */
describe.skipIf(Boolean(skip))(`restore falling back between tape and disk copies${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let home: string;
  let work: string;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setUp(): Promise<string> {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6' }, drives: 1, unmountDelaySeconds: 0 });
    ({ library, runtime, home, work } = made);
    cleanup = async () => {
      runtime.close();
      await library.cleanup();
    };
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(work, 'disk1'), fragmentSizeBytes: 1024 * 1024 }));
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    const source = join(work, 'source');
    mkdirSync(join(source, 'sub'), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(source, 'sub', `f${i}.bin`), randomBytes(700 * 1024 + i));
    writeFileSync(join(source, 'marker.bin'), MARKER);
    return source;
  }

  async function restoreWithCli(source: string, name: string): Promise<string> {
    runtime.close();
    const target = join(work, name);
    const backupId = readFileSync(join(work, 'backup-id'), 'utf8');
    const result = await runCairn(home, ['restore', '--backup-id', backupId, '--to', target]);
    runtime = await openLocalRuntime({ home });
    expect(result.code, result.stderr).toBe(0);
    expect((await compareTrees(source, join(target, source))).differences).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    return result.stderr;
  }

  it('restores from the tape copy when the disk primary has lost its fragments', async () => {
    const source = await setUp();
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'disk1' });
    expect(run.statusCode).toBe(0);
    writeFileSync(join(work, 'backup-id'), run.backupId!);
    await duplicateImage(localDuplicateDeps(runtime), { backupId: run.backupId!, to: 'tape1' });
    const folder = join(work, 'disk1', 'images', 'host1', run.backupId!);
    for (const name of readdirSync(folder).filter((n) => n.startsWith('fragment-'))) rmSync(join(folder, name));

    const said = await restoreWithCli(source, 'restored');
    expect(said).toMatch(/copy 1 .*on disk1 could not be restored .*: restoring from copy 2 on tape1/);
  }, 120_000);

  it('restores from the disk copy when the tape primary turns out corrupt', async () => {
    const source = await setUp();
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.statusCode).toBe(0);
    writeFileSync(join(work, 'backup-id'), run.backupId!);
    await duplicateImage(localDuplicateDeps(runtime), { backupId: run.backupId!, to: 'disk1' });
    const file = join(library.base, 'slot1');
    const bytes = readFileSync(file);
    const at = bytes.indexOf(MARKER);
    bytes[at + 5000] = bytes[at + 5000]! ^ 0x01;
    writeFileSync(file, bytes);

    const said = await restoreWithCli(source, 'restored');
    expect(said).toMatch(/copy 1 on tape1 failed with status 2001: restoring from copy 2 on disk1/);
  }, 120_000);
});
