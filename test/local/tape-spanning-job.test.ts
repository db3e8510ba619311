import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { asKind } from '#core/model/job.ts';
import type { Image } from '#core/model/image.ts';
import { fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import { restoreAndCompare as restoreImageAndCompare } from './tape-library-runtime.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { gnuTarList, readVolumeBytes } from '../edge-agent/tape/tape-shelf.ts';
import { runCairn } from '../cli/cli-process.ts';

const skip = diskChangerSkipReason();
const BLOCK = 64 * 1024;
const AT = new Date('2026-12-03T04:00:00.000Z');
const BARCODES = { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6', 4: 'CRN004L6', 5: 'CRN005L6' };
/** Small volumes: 8 MiB, of which some 6 MiB before early warning (edge-agent/tape/early-warning.ts, with pieces of 1 MiB). */
const CAPACITY = 8 * 1024 * 1024;

/**
 * Spanning in the standalone runtime: the real backup-job.asl.json in
 * process (Stream → VolumeFull? → ReserveNextVolume → MountNextVolume →
 * Continue, around again), SQLite stores and media manager, Debian's
 * disk-changer as the library, file tapes as its volumes.
 */
describe.skipIf(Boolean(skip))(`a tape backup job that spans volumes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let work: string;

  async function setUp(media: string[]): Promise<string> {
    library = diskChangerLibrary({ slots: 6, drives: 1, barcodes: BARCODES });
    work = library.base;
    runtime = await openLocalRuntime({ home: join(work, 'home') });
    const { emm } = runtime;
    await emm.addRobot({ name: 'lib1', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: CAPACITY }, AT);
    await emm.addDrive({ name: 'd0', robot: 'lib1', index: 0, path: library.drives[0]!, blockSize: BLOCK });
    await emm.addPool({ name: 'daily' });
    for (const [slot, mediaId] of Object.entries(BARCODES)) if (media.includes(mediaId)) await emm.addMedia(newMedia(mediaId, AT, { robot: 'lib1', slot: Number(slot) }));
    await runtime.config.putStorageUnit(
      StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'tape1-index', kind: 'disk', path: join(work, 'index') }, mediaUnmountDelaySeconds: 180, pieceBytes: 1024 * 1024 }),
    );
    await runtime.config.putSetting('resourceRetrySeconds', 1);
    await runtime.config.putSetting('backupTries', { tries: 1, withinHours: 12 });
    await runtime.config.putSetting('buffers', { count: 8, sizeBytes: 64 * 1024 });
    // Many files smaller than a volume: 16 MiB of incompressible data, more than two volumes hold.
    const source = join(work, 'source');
    mkdirSync(join(source, 'a'), { recursive: true });
    mkdirSync(join(source, 'b'));
    for (let i = 0; i < 160; i++) writeFileSync(join(source, i % 2 ? 'a' : 'b', `f${i}`), randomBytes(100 * 1024 + i));
    return source;
  }

  afterEach(async () => {
    runtime?.close();
    await library?.cleanup();
  });

  const restoreAndCompare = (image: Image, source: string, target: string) => restoreImageAndCompare(runtime, image, source, target);

  it('fills three volumes in one job: each full volume turns FULL, the next is reserved and mounted in the same drive, the job and the image list every volume, GNU tar lists each fragment from its volume, and the image restores byte for byte', async () => {
    const source = await setUp(['CRN001L6', 'CRN002L6', 'CRN003L6', 'CRN004L6', 'CRN005L6']);
    const run = await runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1' });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);

    const image = (await runtime.catalog.getImage(run.backupId!))!;
    const fragments = image.copies[0]!.fragments;
    const onVolume = (f: (typeof fragments)[number]): string => (f.location.kind === 'tape' ? f.location.mediaId : 'not tape');
    const used = [...new Set(fragments.map(onVolume))];
    // 16 MiB over volumes of 8 MiB, each closed at early warning: three volumes or four, as the bytes in flight
    // when each mark came decide (edge-agent/tape/early-warning.ts); in order, from the first.
    expect(used.length).toBeGreaterThanOrEqual(3);
    expect(used).toEqual(Object.values(BARCODES).slice(0, used.length));
    const last = used.at(-1)!;
    const lastSlot = Number(Object.entries(BARCODES).find(([, id]) => id === last)![0]);
    // The job lists every volume it was given, in order.
    const job = asKind(await runtime.jobs.get(run.jobId!), 'backup')!;
    expect(job.volumes).toEqual(used);
    expect(job.waitingReason).toBeUndefined();

    // Each fragment is a tar archive GNU tar lists, read straight from its volume file at its recorded block.
    const listed: string[] = [];
    for (const fragment of fragments) {
      if (fragment.location.kind !== 'tape') throw new Error('not on tape');
      const slot = Object.entries(BARCODES).find(([, id]) => id === onVolume(fragment))![0];
      const offset = fileTapeByteOffset({ fileNumber: fragment.location.fileNumber, block: fragment.location.blockOffset, blockSize: BLOCK });
      listed.push(...gnuTarList(readVolumeBytes(join(library.base, `slot${slot}`), offset, Math.ceil(fragment.bytes / BLOCK) * BLOCK)));
    }
    expect(listed.filter((n) => !n.endsWith('/'))).toHaveLength(160);
    // Every volume starts its fragments at file 1, after its label.
    for (const mediaId of used) expect(fragments.find((f) => onVolume(f) === mediaId)!.location).toMatchObject({ fileNumber: 1, blockOffset: 2 });

    // The media manager: full volumes FULL, each with what the image wrote on it, a mount each. The last is ACTIVE,
    // or FULL when the image ended past its early-warning mark (how far the third volume gets varies around the mark;
    // test/local/tape-early-warning-full.test.ts checks that case exactly).
    for (const mediaId of used) {
      const media = (await runtime.emm.getMedia(mediaId))!;
      const mine = fragments.filter((f) => onVolume(f) === mediaId);
      expect(media).toMatchObject({ pool: 'daily', images: [run.backupId], tapeFiles: 1 + mine.length, mountCount: 1 });
      expect(mediaId === last ? ['ACTIVE', 'FULL'] : ['FULL']).toContain(media.state);
      expect(media.bytesWritten).toBe(mine.reduce((n, f) => n + f.bytes, 0));
    }
    expect((await runtime.emm.getMedia('CRN005L6'))?.pool).toBe('scratch');
    // Released; the last volume stays loaded for the unmount delay, as the robot says.
    expect(await runtime.media.listReservations()).toEqual([]);
    expect((await runtime.emm.getDrive('d0'))?.loaded?.mediaId).toBe(last);
    expect(await library.changer.loaded(0)).toMatchObject({ full: true, sourceSlot: lastSlot });

    await restoreAndCompare(image, source, join(work, 'restore'));

    // What the operator sees: the job's volumes, and each fragment's volume in the image.
    const home = join(work, 'home');
    expect((await runCairn(home, ['jobs', 'show', String(run.jobId)])).stdout).toMatch(new RegExp(`^volumes\\s+${used.join(', ')}$`, 'm'));
    const [shown] = JSON.parse((await runCairn(home, ['images', '--json'])).stdout) as Array<{ volumes: string[]; fragments: Array<{ location: { mediaId: string } }> }>;
    expect(shown!.volumes).toEqual(used);
    expect(shown!.fragments.map((f) => f.location.mediaId)).toEqual(fragments.map(onVolume));
  });

  it('fails with 96 when no next volume comes before the window closes: the job says what it waits for meanwhile, the full volume is FULL, the drive is unloaded and released, nothing is catalogued', async () => {
    const source = await setUp(['CRN001L6']);
    let jobId: number | undefined;
    const windowEnd = new Date(Date.now() + 6000).toISOString();
    const running = runBackupJob(runtime, { client: 'host1', selections: [source], storageUnit: 'tape1', windowEnd }, { onQueued: (job) => (jobId = job.jobId) });
    let reason: string | undefined;
    for (let i = 0; i < 200 && reason === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const job = jobId === undefined ? undefined : await runtime.jobs.get(jobId);
      if (job?.state === 'ACTIVE' && job.waitingReason) reason = job.waitingReason;
    }
    expect(reason).toBe('waiting for volume: pool daily has no writable volume in robot lib1 and scratch is empty (1 FULL) (volume CRN001L6 is full)');
    const run = await running;
    expect(run.statusCode).toBe(96);
    expect(run.error).toMatch(/volume CRN001L6 is full and its window closed at .* with no next volume: pool daily has no writable volume/);
    expect(await runtime.emm.getMedia('CRN001L6')).toMatchObject({ state: 'FULL', images: [] });
    const ended = asKind(await runtime.jobs.get(run.jobId!), 'backup');
    expect(ended).toMatchObject({ state: 'DONE', volumes: ['CRN001L6'] });
    expect(ended?.waitingReason).toBeUndefined();
    expect(await runtime.catalog.listImages()).toEqual([]);
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
  });
});
