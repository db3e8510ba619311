import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { runJanitor } from '#local/janitor.ts';
import { runBackupJob } from '#local/job-engine.ts';
import { asKind } from '#core/model/job.ts';
import type { Image } from '#core/model/image.ts';
import { DATA_OFFSET, MARK_TABLE_OFFSET, decodeMarks } from '#agent/tape/drives/file-tape-format.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { patterned } from '../edge-agent/helpers.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';
import { hasGnuTar, readVolumeBytes } from '../edge-agent/tape/tape-shelf.ts';
import { BLOCK, gnuTarListFragments, restoreAndCompare, tapeLibraryRuntime } from '../local/tape-library-runtime.ts';
import { runCairn, spawnCairn } from './cli-process.ts';

const skip = diskChangerSkipReason() ?? (hasGnuTar ? undefined : 'GNU tar is missing');
/** Each kill costs a `cairn` start (several seconds under tsx on a busy machine): three aimed, then at random moments; more with CAIRN_TAPE_KILLS. */
const KILLS = Number(process.env.CAIRN_TAPE_KILLS ?? 4);
const VOLUME = 'CRN001L6';

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Deterministic moments, so a failure can be replayed from the seed in its message. */
function moments(seed: number, count: number, maxMs: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.round((x / 2 ** 31) * maxMs);
  });
}

/**
 * `cairn backup` to a tape unit killed with SIGKILL at random moments (in
 * Mount, mid-fragment, between fragments, around Catalog), on Debian's
 * disk-changer with one drive and one file-tape volume. After each kill
 * the janitor (what any next `cairn` command runs first) must end the job,
 * unload the drive and release it, and leave the volume's append point at
 * its last complete tape file; the next backup then appends there. At the
 * end every image on the volume restores byte for byte, and GNU tar lists
 * each of its fragments read straight from the volume file at its offset.
 */
describe.skipIf(Boolean(skip))(`tape backups killed while writing${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let home: string;
  let work: string;
  let source: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const set = await tapeLibraryRuntime({ barcodes: { 1: VOLUME }, unmountDelaySeconds: 0, fragmentSizeBytes: 1024 * 1024 });
    ({ library, home, work, cleanup } = set);
    set.runtime.close();
    source = join(work, 'source');
    makeSampleTree(source, { largeBytes: 600_000 });
    // Files of about a fragment each: a kill finds complete tape files and a torn one.
    mkdirSync(join(source, 'big'));
    for (let i = 0; i < 4; i++) writeFileSync(join(source, 'big', `f${i}.bin`), patterned(2_500_000, i));
  });
  afterAll(async () => cleanup?.());

  async function withRuntime<T>(use: (runtime: LocalRuntime) => Promise<T>): Promise<T> {
    const runtime = await openLocalRuntime({ home });
    try {
      return await use(runtime);
    } finally {
      runtime.close();
    }
  }
  const lastJobId = (): Promise<number> => withRuntime(async (r) => (await r.jobs.list({ limit: 1 }))[0]?.jobId ?? 0);

  /** The volume file's records and filemarks now (the file tape's own table, read as it is). */
  function volumeState(): { records: number; marks: number; lastMark: number } {
    const volumeFile = join(library.base, 'slot1');
    const records = Math.max(0, Math.floor((statSync(volumeFile).size - DATA_OFFSET) / BLOCK));
    const marks = decodeMarks(readVolumeBytes(volumeFile, MARK_TABLE_OFFSET, 64 * 1024), records);
    return { records, marks: marks.length, lastMark: marks.at(-1) ?? 0 };
  }
  const appendPoint = (): Promise<number> => withRuntime(async (r) => (await r.emm.getMedia(VOLUME))!.tapeFiles);
  /** Records before the append point: where the last catalogued fragment's filemark is. */
  const endOfImages = async (): Promise<number> => {
    const volumeFile = join(library.base, 'slot1');
    const marks = decodeMarks(readVolumeBytes(volumeFile, MARK_TABLE_OFFSET, 64 * 1024), Number.MAX_SAFE_INTEGER);
    return marks[(await appendPoint()) - 1] ?? 0;
  };

  /**
   * Where the kill landed, for the log and the failure messages: the job's
   * state, the drive, and what the volume file holds past the media
   * manager's append point (the file tape's filemark table, read as it is).
   */
  async function phaseOf(runtime: LocalRuntime, jobId: number): Promise<string> {
    const job = asKind(await runtime.jobs.get(jobId), 'backup');
    if (!job) return 'no job yet';
    if (job.state === 'DONE') return `job ${jobId} DONE ${job.statusCode}`;
    const loaded = (await library.changer.loaded(0)).full;
    const { records, marks, lastMark } = volumeState();
    const { tapeFiles } = (await runtime.emm.getMedia(VOLUME))!;
    const image = job.backupId ? await runtime.catalog.getImage(job.backupId) : undefined;
    const torn = records - lastMark;
    return `job ${jobId} ${job.state}${job.waitingReason ? ` (${job.waitingReason})` : ''}, drive ${loaded ? 'loaded' : 'empty'}, ${Math.max(0, marks - tapeFiles)} complete tape file(s) past the append point (file ${tapeFiles}) and ${torn > 0 ? `a torn one of ${torn} records` : 'no torn one'}${image ? ', image catalogued' : ''}`;
  }

  /** Images on the volume are contiguous from file 1: the append point is 1 + their fragments. */
  async function expectConsistent(runtime: LocalRuntime, context: string): Promise<Image[]> {
    const jobs = await runtime.jobs.list({ limit: 1000 });
    for (const job of jobs) expect(job.state, `${context}: job ${job.jobId}`).toBe('DONE');
    expect(await runtime.media.listReservations(), context).toEqual([]);
    expect(await runtime.catalog.listClaims(), context).toEqual([]);
    expect(await library.changer.loaded(0), `${context}: the drive is unloaded`).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded, `${context}: the media manager records the drive empty`).toBeUndefined();
    const images = await runtime.catalog.listImages();
    const volume = (await runtime.emm.getMedia(VOLUME))!;
    expect([...volume.images].sort(), `${context}: the volume lists the catalogued images`).toEqual(images.map((i) => i.backupId).sort());
    const fragments = images.flatMap((i) => i.copies[0]!.fragments);
    expect(volume.tapeFiles, `${context}: append point = label + every catalogued fragment`).toBe(1 + fragments.length);
    const files = fragments.map((f) => (f.location.kind === 'tape' ? f.location.fileNumber : -1)).sort((a, b) => a - b);
    expect(files, `${context}: the catalogued fragments are tape files 1..n`).toEqual(files.map((_, i) => i + 1));
    return images;
  }

  it(`ends the job, unloads and releases the drive, and appends after the last complete tape file, after ${KILLS} kills`, async () => {
    // A first backup labels the volume and says how long a job takes, so the kills spread over all of it.
    const calibration = await runCairn(home, ['backup', '--client', 'victim', '--path', source, '--storage-unit', 'tape1', '--json']);
    expect(calibration.code, calibration.stderr + calibration.stdout).toBe(0);
    const { job } = JSON.parse(calibration.stdout) as { job: { queuedAt: string; endedAt: string } };
    const jobMs = Date.parse(job.endedAt) - Date.parse(job.queuedAt);
    const seed = Number(process.env.CAIRN_KILL_SEED ?? Date.now() % 100_000);
    const phases: string[] = [];

    // Aimed kills first (right after the robot loaded the volume: in Mount; the first record of a fragment written:
    // mid-fragment; a fragment's filemark written: between fragments), then kills at random moments of the job.
    // Each sees the volume as the killed job found it (`start`): the append point and the records before it.
    const aimed: [string, (start: { tapeFiles: number; endOfImages: number }) => boolean][] = [
      ['in Mount', () => lstatOrUndefined(library.drives[0]!) !== undefined],
      ['mid-fragment', (start) => volumeState().records > start.endOfImages],
      ['between fragments', (start) => volumeState().marks > start.tapeFiles + 1],
    ];
    const plan = [...aimed.slice(0, KILLS), ...moments(seed, Math.max(0, KILLS - aimed.length), jobMs * 1.1).map((ms): [string, number] => [`at ${ms} ms`, ms])];
    for (const [i, [moment, when]] of plan.entries()) {
      const before = await lastJobId();
      const start = { tapeFiles: await appendPoint(), endOfImages: await endOfImages() };
      const { child, exited } = spawnCairn(home, ['backup', '--client', 'victim', '--path', source, '--storage-unit', 'tape1', '--json']);
      // The clock starts when the job exists: the kills land inside the job, not in the process's start.
      while ((await lastJobId()) === before && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 10));
      if (typeof when === 'number') await new Promise((resolve) => setTimeout(resolve, when));
      else for (const started = Date.now(); child.exitCode === null && Date.now() - started < jobMs * 3 && !when(start); ) await new Promise((resolve) => setTimeout(resolve, 1));
      child.kill('SIGKILL');
      await exited;
      // A changer script the dead process had started finishes on its own (as a robot's move would): let it.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killedJob = before + 1;
      const context = await withRuntime(async (runtime) => {
        const phase = `seed ${seed}, kill ${i + 1} (${moment}): ${await phaseOf(runtime, killedJob)}`;
        phases.push(phase);
        // What any next `cairn` command runs first.
        const report = await runJanitor(runtime);
        expect(report.problems, phase).toEqual([]);
        const ended = asKind(await runtime.jobs.get(killedJob), 'backup')!;
        // Killed before its image was catalogued: 2002 (retryable, but the workflow that would retry it died with the process).
        expect([0, 2002], `${phase}: ${ended.error ?? ''}`).toContain(ended.statusCode);
        if (ended.statusCode === 0) expect(await runtime.catalog.getImage(ended.backupId!), phase).toBeDefined();
        await expectConsistent(runtime, phase);

        // The next backup appends after the last complete tape file.
        const appendFile = (await runtime.emm.getMedia(VOLUME))!.tapeFiles;
        const next = await runBackupJob(runtime, { client: 'victim', selections: [source], storageUnit: 'tape1' });
        expect(next.statusCode, `${phase}: the next backup: ${next.error ?? ''}`).toBe(0);
        const image = (await runtime.catalog.getImage(next.backupId!))!;
        expect(image.copies[0]!.fragments[0]!.location, phase).toMatchObject({ kind: 'tape', mediaId: VOLUME, fileNumber: appendFile });
        await expectConsistent(runtime, `${phase}, then a backup`);
        return phase;
      });
      expect(context).toContain(`kill ${i + 1}`);
    }
    console.log(`killed ${KILLS} tape backups (seed ${seed}, a whole job ${jobMs} ms):\n  ${phases.join('\n  ')}`);

    // Every image on the volume restores byte for byte, and GNU tar reads each fragment at its catalogued offset.
    await withRuntime(async (runtime) => {
      const images = await runtime.catalog.listImages({ client: 'victim' });
      expect(images.length).toBeGreaterThanOrEqual(KILLS + 1);
      const names = readdirSync(join(source, 'big')).map((f) => `${source.slice(1)}/big/${f}`);
      for (const image of images) {
        const listed = await gnuTarListFragments(runtime, library, image);
        expect(listed, image.backupId).toEqual(expect.arrayContaining(names));
        await restoreAndCompare(runtime, image, source, join(work, 'restore', image.backupId));
      }
    });
  }, 300_000);
});
