import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { LocalRuntime } from '#local/runtime.ts';
import { runVerifyJob } from '#local/verify-engine.ts';
import type { Image } from '#core/model/image.ts';
import { FaultyTapeDrive } from '#agent/tape/drives/faulty-tape-drive.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { makeSampleTree } from '#cli/demo/sample-tree.ts';
import { backupImage, tapeImageLibrary } from './tape-library-runtime.ts';
import { diskChangerSkipReason, type DiskChangerLibrary } from '../edge-agent/tape/disk-changer-library.ts';

const skip = diskChangerSkipReason();

/** A marker no other byte run of the image repeats, so a test finds its file's data on the volume. */
const MARKER = Buffer.from('cairn-tape-verify-marker-'.repeat(800));

/**
 * A verify job of a tape image: the real verify-job.asl.json in process
 * (its tape branch: the restore job's Plan, Reserve, Mount, Read,
 * RecordRead, Unmount, Release loop), SQLite stores, the in-process agent,
 * Debian's disk-changer as a real virtual library of file tapes. Images are
 * written by real tape backup jobs; damage is a byte flipped in a volume's
 * file, where disk-changer keeps the tape.
 */
describe.skipIf(Boolean(skip))(`a verify job of a tape image${skip ? ` (skipped: ${skip})` : ''}`, () => {
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

  /** Nothing held, nothing loaded: the job released its drive and volume and unloaded the volume to its slot. */
  async function expectReleased(): Promise<void> {
    expect(await runtime.media.listReservations()).toEqual([]);
    expect(await library.changer.loaded(0)).toMatchObject({ full: false });
    expect((await runtime.emm.getDrive('d0'))?.loaded).toBeUndefined();
  }

  /** The file tape of a volume, in its slot (disk-changer keeps an unloaded tape there). */
  async function volumeFile(mediaId: string): Promise<string> {
    const media = (await runtime.emm.getMedia(mediaId))!;
    return join(library.base, `slot${media.slot}`);
  }

  /** Flips one byte `into` bytes after the first place `needle` is on `mediaId`'s tape. */
  async function flipOnVolume(mediaId: string, needle: Buffer, into: number): Promise<void> {
    const file = await volumeFile(mediaId);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(needle);
    expect(at, `the bytes sought are on ${mediaId}`).toBeGreaterThan(0);
    bytes[at + into] = bytes[at + into]! ^ 0x01;
    writeFileSync(file, bytes);
  }

  it('verifies a clean tape image (0, its volume read and released), then names the member whose byte was flipped on the tape (2001)', async () => {
    const source = await setUp();
    makeSampleTree(source, { largeBytes: 2 * 1024 * 1024 });
    writeFileSync(join(source, 'marker.bin'), MARKER);
    const image = await backup(source);
    const mediaId = image.copies[0]!.fragments[0]!.location.kind === 'tape' ? image.copies[0]!.fragments[0]!.location.mediaId : '';
    expect(image.copies[0]!.fragments.length).toBeGreaterThan(2);
    const before = readFileSync(await volumeFile(mediaId));

    const clean = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(clean.error).toBeUndefined();
    expect(clean.statusCode).toBe(0);
    expect(clean.job).toMatchObject({ type: 'verify', state: 'DONE', statusCode: 0, storageUnit: 'tape1', problemCount: 0, problems: [], volumes: [{ mediaId, read: true }], drives: ['d0'] });
    expect(clean.job!.progress.files).toBeGreaterThan(10);
    expect(clean.job!.progress.bytes).toBeGreaterThan(2 * 1024 * 1024);
    await expectReleased();
    // A verify writes nothing: the tape is as it was.
    expect(readFileSync(await volumeFile(mediaId)).equals(before)).toBe(true);

    await flipOnVolume(mediaId, MARKER, 5000);
    const damaged = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(damaged.statusCode).toBe(2001);
    expect(damaged.job).toMatchObject({ state: 'DONE', statusCode: 2001, problemCount: 1 });
    expect(damaged.error).toContain(`${join(source, 'marker.bin')} (fragment`);
    expect(damaged.job!.problems[0]).toMatch(/marker\.bin .*its content has sha256/);
    await expectReleased();
  });

  it('ends with 85 when a record cannot be read, and still unmounts the volume and releases the drive', async () => {
    const source = await setUp();
    makeSampleTree(source, { largeBytes: 1024 * 1024 });
    const image = await backup(source);
    // The Read's drive fails on its fifth record (the label check reads the first).
    const faulty: TapeDevices = { ...realTapeDevices, openDrive: async (access) => new FaultyTapeDrive(await realTapeDevices.openDrive(access), { readErrorAtRecord: 5, sticky: true }) };
    const run = await runVerifyJob({ ...runtime, tapeDevices: faulty }, { backupId: image.backupId });
    expect(run.statusCode).toBe(85);
    expect(run.job).toMatchObject({ state: 'DONE', statusCode: 85 });
    await expectReleased();
  });

  it('verifies an image spanning volumes, a file pieced across them hashed whole (its sha256 state carried from volume to volume), and names that file by its whole-file sha256 for a byte flipped in its part on a later volume', async () => {
    // Volumes of 8 MiB: a 10 MiB file in pieces of 1 MiB runs from the first volume onto the second.
    const source = await setUp({ capacityBytes: 8 * 1024 * 1024, pieceBytes: 1024 * 1024 });
    mkdirSync(join(source, 'small'), { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(join(source, 'small', `f${i}`), randomBytes(50 * 1024 + i));
    const big = randomBytes(10 * 1024 * 1024);
    writeFileSync(join(source, 'big.bin'), big);
    const image = await backup(source);
    const volumes = [...new Set(image.copies[0]!.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : '')))];
    // Two volumes or three, as the bytes in flight when early warning came decide (edge-agent/tape/early-warning.ts).
    expect(volumes.length).toBeGreaterThanOrEqual(2);

    const clean = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(clean.error).toBeUndefined();
    expect(clean.statusCode).toBe(0);
    expect(clean.job?.volumes?.map((v) => [v.mediaId, v.read])).toEqual(volumes.map((v) => [v, true]));
    expect(clean.job).toMatchObject({ problemCount: 0, problems: [] });
    // One throughput series over every volume: each Read goes on from the series and bytes of the volumes before it,
    // so it rises from 0 to the job's total (the sum of the volumes), never back.
    const samples = clean.job!.progress.samples!;
    expect(samples[0]![1]).toBe(0);
    expect(samples.at(-1)![1]).toBe(clean.job!.progress.bytes);
    expect(samples.every((s, i) => i === 0 || (s[0] >= samples[i - 1]![0] && s[1] >= samples[i - 1]![1]))).toBe(true);
    await expectReleased();

    // The big file's last bytes are on a later volume than its first: a part whose earlier pieces another Read saw.
    const needle = big.subarray(big.length - 4096, big.length - 4096 + 64);
    const holders: string[] = [];
    for (const mediaId of volumes) if (readFileSync(await volumeFile(mediaId)).includes(needle)) holders.push(mediaId);
    expect(holders).toHaveLength(1);
    expect(holders[0]).not.toBe(volumes[0]);
    await flipOnVolume(holders[0]!, needle, 10);
    const damaged = await runVerifyJob(runtime, { backupId: image.backupId });
    expect(damaged.statusCode).toBe(2001);
    expect(damaged.error).toContain(join(source, 'big.bin'));
    // Its hash went from volume to volume with the job: the whole file's sha256, checked at its last piece, names it.
    expect(damaged.job!.problems.find((p) => p.startsWith(join(source, 'big.bin')) && /its content has sha256/.test(p))).toBeDefined();
    expect(damaged.job?.volumes?.every((v) => v.read)).toBe(true);
    await expectReleased();
  });
});
