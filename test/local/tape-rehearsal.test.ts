import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { LocalRuntime } from '#local/runtime.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import type { Image } from '#core/model/image.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { backupImage, tapeImageLibrary } from './tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();

/** A marker no other byte run of the image repeats, so a test finds its file's data on the volume. */
const MARKER = Buffer.from('cairn-tape-rehearsal-marker-'.repeat(800));

/**
 * A restore rehearsal of an image only on tape, in the standalone runtime:
 * the real verify-job.asl.json in process, its Verify step the in-process
 * agent, which reserves a drive of the robot and the volume through the
 * broker under the rehearsal's job (as a tape restore does), restores the
 * sample into scratch from the tape, compares it, unloads and releases on
 * every path, and removes the scratch directory. Debian's disk-changer as
 * a real virtual library of file tapes; images from real tape backup jobs.
 */
describe.skipIf(Boolean(skip))(`a restore rehearsal from tape${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let runtime: LocalRuntime;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  /** The library and runtime (tape-library-runtime.ts' tapeImageLibrary); the source directory's path. */
  async function setUp(options: { capacityBytes?: number; pieceBytes?: number } = {}): Promise<string> {
    const made = await tapeImageLibrary(options);
    ({ library, runtime, cleanup } = made);
    return made.source;
  }

  const backup = (source: string): Promise<Image> => backupImage(runtime, source, 'tape1');

  /** Nothing held, nothing loaded, no scratch directory left. */
  async function expectReleased(): Promise<void> {
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
    const scratch = join(runtime.home, 'rehearsals');
    expect(existsSync(scratch) ? readdirSync(scratch) : []).toEqual([]);
  }

  async function flipOnVolume(mediaId: string, needle: Buffer, into: number): Promise<void> {
    const media = (await runtime.emm.getMedia(mediaId))!;
    const file = join(library.base, `slot${media.slot}`);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(needle);
    expect(at, `the bytes sought are on ${mediaId}`).toBeGreaterThan(0);
    bytes[at + into] = bytes[at + into]! ^ 0x01;
    writeFileSync(file, bytes);
  }

  const volumesOf = (image: Image): string[] => [...new Set(image.copies[0]!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))];

  it('rehearses an image only on tape (0, every file compared, scratch removed, drive unloaded and released); a byte flipped on the tape ends 2001 naming the file', async () => {
    const source = await setUp();
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    writeFileSync(join(source, 'marker.bin'), MARKER);
    const image = await backup(source);

    const clean = await runVerifyJob(runtime, { backupId: image.backupId, rehearsal: { sample: 'all' } });
    expect(clean.error).toBeUndefined();
    expect(clean.statusCode).toBe(0);
    expect(clean.job!.rehearsal).toMatchObject({ sample: 'all', restoredFrom: [image.backupId], scratchDeleted: true });
    expect(clean.job!.rehearsal!.filesChecked).toBeGreaterThan(5);
    expect(clean.job!.problemCount).toBe(0);
    await expectReleased();
    // The drive was taken through the broker under the rehearsal's job and counted a mount.
    expect((await runtime.emm.getMedia(volumesOf(image)[0]!))!.mountCount).toBeGreaterThanOrEqual(2);

    // A sample of 3 reads only what it needs (ranges of the fragments), from the same tape.
    const sampled = await runVerifyJob(runtime, { backupId: image.backupId, rehearsal: { sample: 3 } });
    expect(sampled.statusCode, sampled.error).toBe(0);
    expect(sampled.job!.rehearsal).toMatchObject({ filesChecked: 3, scratchDeleted: true });
    await expectReleased();

    await flipOnVolume(volumesOf(image)[0]!, MARKER, 5000);
    const damaged = await runVerifyJob(runtime, { backupId: image.backupId, rehearsal: { sample: 'all' } });
    expect(damaged.statusCode).toBe(2001);
    expect(damaged.error).toContain('marker.bin');
    expect(damaged.job!.rehearsal).toMatchObject({ scratchDeleted: true });
    await expectReleased();
  });

  it('rehearses an image spanning two volumes (a file pieced across them) in one drive, each volume taking the last one’s place', async () => {
    const source = await setUp({ capacityBytes: 8 * 1024 * 1024, pieceBytes: 1024 * 1024 });
    mkdirSync(join(source, 'small'), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(source, 'small', `f${i}`), randomBytes(50 * 1024 + i));
    writeFileSync(join(source, 'big.bin'), randomBytes(10 * 1024 * 1024));
    const image = await backup(source);
    expect(volumesOf(image).length).toBeGreaterThanOrEqual(2);

    const run = await runVerifyJob(runtime, { backupId: image.backupId, rehearsal: { sample: 'all' } });
    expect(run.error).toBeUndefined();
    expect(run.statusCode).toBe(0);
    expect(run.job!.rehearsal).toMatchObject({ filesChecked: 5, scratchDeleted: true });
    await expectReleased();
  });
});
