import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { runJanitor } from '#local/janitor.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { copyOf } from '#core/model/image.ts';
import { restoreAndCompare, tapeLibraryRuntime } from '../local/tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { runCairn, spawnCairn } from './cli-process.ts';

const skip = diskChangerSkipReason();

/**
 * `cairn duplicate` to a tape unit killed with SIGKILL while it writes the
 * copy (a real process on Debian's disk-changer library): nothing is
 * catalogued, the next command's janitor unloads the drive and releases
 * the dead holder's reservation, and the next run writes the copy over
 * what the dead one left and catalogues it; it restores byte for byte.
 */
describe.skipIf(Boolean(skip))(`a tape duplicate killed while writing${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('leaves nothing catalogued, the janitor frees the drive, and the next run succeeds', async () => {
    const made = await tapeLibraryRuntime({ barcodes: { 1: 'CRN001L6', 2: 'CRN002L6' }, drives: 1, unmountDelaySeconds: 0 });
    const library: DiskChangerLibrary = made.library;
    let runtime: LocalRuntime = made.runtime;
    cleanup = made.cleanup;
    const source = join(made.work, 'source');
    mkdirSync(source, { recursive: true });
    for (let i = 0; i < 24; i++) writeFileSync(join(source, `f${i}.bin`), randomBytes(1024 * 1024 + i));
    await runtime.config.putStorageUnit(StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(made.work, 'disk1'), fragmentSizeBytes: 1024 * 1024 }));
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'disk1' });
    expect(run.statusCode).toBe(0);
    const backupId = run.backupId!;
    runtime.close();

    // Killed once a few fragments are on the tape (disk-changer keeps a loaded tape in its slot file).
    const { child, exited } = spawnCairn(made.home, ['duplicate', '--backup-id', backupId, '--to', 'tape1', '--json']);
    const slot = join(library.base, 'slot1');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(existsSync(slot) && statSync(slot).size > 4 * 1024 * 1024)) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');

    runtime = await openLocalRuntime({ home: made.home });
    cleanup = async () => {
      runtime.close();
      await library.cleanup();
    };
    expect((await runtime.catalog.getImage(backupId))!.copies.map((c) => c.copyNumber)).toEqual([1]);
    // The dead process held the drive and the volume under its holder.
    expect((await runtime.media.listReservations()).map((r) => r.kind).sort()).toEqual(['drive', 'storage-unit-slot', 'volume']);
    const janitor = await runJanitor(runtime);
    expect(janitor.problems).toEqual([]);
    expect(janitor.releasedReservations.length).toBe(1);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect(readdirSync(join(made.home, 'holders'))).toEqual([]);
    // Nothing of the dead copy is counted on the volume.
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ images: [], bytesWritten: 0 });

    runtime.close();
    const again = await runCairn(made.home, ['duplicate', '--backup-id', backupId, '--to', 'tape1', '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ backupId, copyNumber: 2, storageUnit: 'tape1' });

    runtime = await openLocalRuntime({ home: made.home });
    const image = (await runtime.catalog.getImage(backupId))!;
    expect(copyOf(image, 2)!.fragments.length).toBe(copyOf(image, 1)!.fragments.length);
    const onTape = (await runtime.catalog.updateImage(backupId, (i) => ({ ...i, copies: i.copies.filter((c) => c.copyNumber !== 1) })))!;
    await restoreAndCompare(runtime, onTape, source, join(made.work, 'restored'));
  }, 300_000);
});
