import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Drive, Media } from '#core/model/tape-media.ts';
import { DISK_CHANGER, diskChangerLibrary, diskChangerSkipReason, type DiskChangerLibrary } from '#test/edge-agent/tape/disk-changer-library.ts';
import { tempDir } from '#test/edge-agent/helpers.ts';
import { openSqliteDatabase } from '#local/sqlite-database.ts';
import { sqliteMediaDatabase } from '#local/sqlite-media-manager.ts';
import { runCairn, type CliResult } from './cli-process.ts';

const skip = diskChangerSkipReason();
const EIGHT = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [i + 1, `VOL00${i + 1}`]));

/**
 * The tape commands as an operator runs them (real `cairn` processes, one
 * --home) on a real virtual library: Debian's disk-changer with 10 slots,
 * 2 drives and 8 barcoded volumes. The steps build on each other, in order.
 */
describe.skipIf(Boolean(skip))(`cairn robot, media, pool and drive on disk-changer${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let library: DiskChangerLibrary;
  let home: { dir: string; cleanup: () => void };
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home.dir, args);
  const json = async <T,>(...args: string[]): Promise<T> => {
    const result = await cairn(...args, '--json');
    expect(result.code, `${args.join(' ')}: ${result.stderr}${result.stdout}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  };
  const refused = async (...args: string[]): Promise<{ statusCode: number; message: string }> => {
    const result = await cairn(...args, '--json');
    expect(result.code, `${args.join(' ')} should fail`).toBe(2);
    return JSON.parse(result.stdout) as { statusCode: number; message: string };
  };
  beforeAll(() => {
    library = diskChangerLibrary({ slots: 10, drives: 2, barcodes: EIGHT });
    home = tempDir('cli-tape');
  });
  afterAll(async () => {
    await library.cleanup();
    home.cleanup();
  });

  it('adds the robot with its drives named by index, and the inventory puts the 8 volumes in scratch at their slots', async () => {
    const added = await json<{ name: string; changer: unknown; fileTapeCapacityBytes: number; drives: Drive[] }>(
      'robot', 'add', 'vtl', '--changer-script', DISK_CHANGER, '--changer-device', library.changerDevice, '--drive', library.drives[0]!, '--drive', library.drives[1]!, '--block-size', '64K', '--file-tape-capacity', '32MiB',
    );
    expect(added).toMatchObject({ name: 'vtl', changer: { type: 'changer-script', script: DISK_CHANGER, changerDevice: library.changerDevice }, fileTapeCapacityBytes: 32 * 1024 * 1024 });
    expect(added.drives.map((d) => [d.name, d.index, d.path, d.blockSize, d.state])).toEqual([
      ['vtl-d0', 0, library.drives[0], 65536, 'UP'],
      ['vtl-d1', 1, library.drives[1], 65536, 'UP'],
    ]);
    expect((await refused('robot', 'add', 'vtl', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--client', 'elsewhere')).message).toBe('robot vtl exists already');

    const inventory = await json<{ added: { mediaId: string; place: { slot: number } }[]; moved: unknown[]; left: unknown[]; problems: unknown[] }>('robot', 'inventory', 'vtl');
    expect(inventory.added.map((a) => [a.mediaId, a.place.slot])).toEqual(Object.entries(EIGHT).map(([slot, id]) => [id, Number(slot)]));
    expect([inventory.moved, inventory.left, inventory.problems]).toEqual([[], [], []]);
    const [media, robots] = await Promise.all([json<Media[]>('media', 'list', '--robot', 'vtl'), cairn('robot', 'list')]);
    expect(media.map((m) => [m.mediaId, m.pool, m.state, m.slot])).toEqual(Object.entries(EIGHT).map(([slot, id]) => [id, 'scratch', 'UNASSIGNED', Number(slot)]));
    expect(robots.stdout).toMatch(new RegExp(`^vtl +${DISK_CHANGER} \\S+changer\\.conf +2 +8 +\\(this host\\) +32\\.0 MiB$`, 'm'));
  });

  it('labels a volume into a new pool, and will not delete a pool that holds it', async () => {
    await json('pool', 'add', 'weekly', '--description', 'weekly fulls');
    expect(await json<Media>('media', 'label', 'VOL001', '--pool', 'weekly')).toMatchObject({ mediaId: 'VOL001', pool: 'weekly', state: 'UNASSIGNED' });
    const [inPool, pools, deleted, labelled] = await Promise.all([json<Media[]>('media', 'list', '--pool', 'weekly'), cairn('pool', 'list'), refused('pool', 'delete', 'weekly'), refused('media', 'label', 'VOL002', '--pool', 'monthly')]);
    expect(inPool.map((m) => m.mediaId)).toEqual(['VOL001']);
    expect(pools.stdout).toMatch(/^weekly +1 +weekly fulls$/m);
    expect(deleted).toMatchObject({ statusCode: 20, message: 'pool weekly holds 1 volume (VOL001): move or expire them first' });
    expect(labelled).toMatchObject({ statusCode: 96, message: 'pool monthly not found' });
  });

  it('freezes, suspends and releases a volume, and lists it by state', async () => {
    const [frozen, suspended] = await Promise.all([json<Media>('media', 'freeze', 'VOL001'), json<Media>('media', 'suspend', 'VOL002')]);
    expect(frozen).toMatchObject({ state: 'FROZEN', heldFrom: 'UNASSIGNED' });
    expect(suspended).toMatchObject({ state: 'SUSPENDED', heldFrom: 'UNASSIGNED' });
    const [listed, shown] = await Promise.all([json<Media[]>('media', 'list', '--state', 'frozen'), cairn('media', 'show', 'VOL001')]);
    expect(listed.map((m) => m.mediaId)).toEqual(['VOL001']);
    expect(shown.stdout).toMatch(/^state +FROZEN \(from UNASSIGNED\)$/m);
    const [unfrozen, unsuspended] = await Promise.all([json<Media>('media', 'unfreeze', 'VOL001'), json<Media>('media', 'unsuspend', 'VOL002')]);
    expect(unfrozen).toMatchObject({ state: 'UNASSIGNED' });
    expect(unsuspended).toMatchObject({ state: 'UNASSIGNED' });
  });

  it('shows a volume\'s images and error history as a job records them', async () => {
    // A job writes and fails through the same media database the CLI reads (the standalone runtime's SQLite file).
    const db = openSqliteDatabase(join(home.dir, 'cairn.db'));
    try {
      const emm = sqliteMediaDatabase(db);
      await emm.recordWrite('VOL005', { bytes: 3 * 65536, tapeFiles: 2, backupId: 'web1_1793494800', retentionDays: 14, at: new Date('2026-11-01T01:00:00Z') });
      await emm.recordMediaError('VOL005', { at: '2026-11-01T01:05:00Z', kind: 'write', drive: 'vtl-d0', jobId: 12, message: 'write error at record 3' });
    } finally {
      db.close();
    }
    const shown = (await cairn('media', 'show', 'VOL005')).stdout;
    expect(shown).toMatch(/^state +ACTIVE$/m);
    expect(shown).toMatch(/^written +192\.0 KiB in 2 tape files$/m);
    expect(shown).toMatch(/^images +web1_1793494800$/m);
    expect(shown).toMatch(/^errors\nAT +KIND +DRIVE +JOB +MESSAGE\n2026-11-01T01:05:00Z +write +vtl-d0 +12 +write error at record 3$/m);
  });

  it('shows a drive\'s error count in the list and its error history', async () => {
    const db = openSqliteDatabase(join(home.dir, 'cairn.db'));
    try {
      await sqliteMediaDatabase(db).recordDriveError('vtl-d0', { at: '2026-11-01T01:05:00Z', kind: 'write', mediaId: 'VOL005', jobId: 12, message: 'job 12 attempt 1: write error at record 3' });
    } finally {
      db.close();
    }
    expect((await cairn('drive', 'list')).stdout).toMatch(/^vtl-d0 +vtl +0 +file +\S+drive0 +64\.0 KiB +UP +1(\s|$)/m);
    const shown = (await cairn('drive', 'show', 'vtl-d0')).stdout;
    expect(shown).toMatch(/^error count +1$/m);
    expect(shown).toMatch(/^errors\nAT +KIND +VOLUME +JOB +MESSAGE\n2026-11-01T01:05:00Z +write +VOL005 +12 +job 12 attempt 1: write error at record 3$/m);
    expect(await json<Drive>('drive', 'show', 'vtl-d0')).toMatchObject({ errorCount: 1, errors: [{ kind: 'write', mediaId: 'VOL005', jobId: 12 }] });
    expect((await refused('drive', 'show', 'nope')).statusCode).toBe(219);
  });

  it('takes a drive down with a reason, brings it up and resets its errors', async () => {
    expect(await json<Drive>('drive', 'down', 'vtl-d1', '--reason', 'cleaning')).toMatchObject({ name: 'vtl-d1', state: 'DOWN', downReason: 'cleaning' });
    expect((await cairn('drive', 'list')).stdout).toMatch(/^vtl-d1 +vtl +1 +file +\S+drive1 +64\.0 KiB +DOWN +0 +cleaning$/m);
    const up = await json<Drive>('drive', 'up', 'vtl-d1');
    expect(up.state).toBe('UP');
    expect(up.downReason).toBeUndefined();
    expect(await json<Drive>('drive', 'reset', 'vtl-d1')).toMatchObject({ errorCount: 0, errors: [] });
  });

  it('a second inventory shows a volume removed, one added, one moved to another slot and one loaded in a drive', async () => {
    // The library changes behind the media manager's back: VOL008 taken out, VOL009 put in slot 9, VOL002 moved to slot 10, VOL003 loaded into drive 0.
    rmSync(join(library.base, 'slot8'));
    renameSync(join(library.base, 'slot2'), join(library.base, 'slot10'));
    writeFileSync(join(library.base, 'slot9'), '');
    writeFileSync(join(library.base, 'barcodes'), ['1:VOL001', '3:VOL003', '4:VOL004', '5:VOL005', '6:VOL006', '7:VOL007', '9:VOL009', '10:VOL002', ''].join('\n'));
    await library.changer.load(3, 0);

    const inventory = await json<{ added: { mediaId: string }[]; moved: { mediaId: string; reason: string }[]; left: { mediaId: string; reason: string }[]; unchanged: string[] }>('robot', 'inventory', 'vtl');
    expect(inventory.added.map((a) => a.mediaId)).toEqual(['VOL009']);
    expect(inventory.moved.map((m) => [m.mediaId, m.reason])).toEqual([
      ['VOL002', 'found at slot 10, recorded slot 2: moved'],
      ['VOL003', 'found at drive vtl-d0 (home slot 3), recorded slot 3: moved'],
    ]);
    expect(inventory.left).toEqual([{ mediaId: 'VOL008', reason: 'is no longer in the library (recorded at slot 8): moved outside robot vtl' }]);
    expect(inventory.unchanged).toEqual(['VOL001', 'VOL004', 'VOL005', 'VOL006', 'VOL007']);

    const [again, drives, shown] = await Promise.all([cairn('robot', 'inventory', 'vtl'), json<Drive[]>('drive', 'list'), cairn('media', 'show', 'VOL008')]);
    expect(again.stdout).toBe('robot vtl: 0 added, 0 moved, 0 left the robot, 8 unchanged, 0 problems\n');
    expect(drives.map((d) => [d.name, d.loaded?.mediaId])).toEqual([
      ['vtl-d0', 'VOL003'],
      ['vtl-d1', undefined],
    ]);
    expect(shown.stdout).toMatch(/^where +outside \(last in vtl\)$/m);
  });

  it('removes the robot: its drives go, its volumes stay outside any robot', async () => {
    const removed = await json<{ volumesOutside: string[] }>('robot', 'remove', 'vtl');
    expect(removed.volumesOutside).toEqual(['VOL001', 'VOL002', 'VOL003', 'VOL004', 'VOL005', 'VOL006', 'VOL007', 'VOL009']);
    const [drives, inRobot, all, inventory] = await Promise.all([json<Drive[]>('drive', 'list'), json<Media[]>('media', 'list', '--robot', 'vtl'), json<Media[]>('media', 'list'), refused('robot', 'inventory', 'vtl')]);
    expect(drives).toEqual([]);
    expect(inRobot).toEqual([]);
    expect(all.every((m) => m.robot === undefined && m.lastRobot === 'vtl')).toBe(true);
    expect(inventory).toMatchObject({ statusCode: 219, message: 'robot vtl not found' });
  });
});

describe('cairn storage-unit add --kind tape against the media database', () => {
  let home: { dir: string; cleanup: () => void };
  const cairn = (...args: string[]): Promise<CliResult> => runCairn(home.dir, [...args, '--json']);
  beforeAll(() => {
    home = tempDir('cli-tape-stu');
  });
  afterAll(() => home.cleanup());

  it('defaults --drives to the robot\'s drives, refuses a missing robot or pool, scratch and too many drives, and keeps a used robot', async () => {
    // A library on another host (--client): its mtx device is checked there, not here.
    const setup = await Promise.all([cairn('robot', 'add', 'tld', '--mtx', '/dev/sg3', '--drive', '/dev/nst0', '--drive', '/dev/nst1', '--drive', '/dev/nst2', '--client', 'tapehost'), cairn('pool', 'add', 'daily')]);
    expect(setup.map((r) => r.code)).toEqual([0, 0]);
    const stu = (...extra: string[]) => cairn('storage-unit', 'add', '--name', 'tape1', '--kind', 'tape', ...extra);

    const refusals = await Promise.all([stu('--robot', 'nosuch', '--pool', 'daily'), stu('--robot', 'tld', '--pool', 'nosuch'), stu('--robot', 'tld', '--pool', 'scratch'), stu('--robot', 'tld', '--pool', 'daily', '--drives', '4')]);
    expect(refusals.map((r) => JSON.parse(r.stdout) as unknown)).toMatchObject([
      { statusCode: 219, message: 'tape unit tape1: robot nosuch does not exist (cairn robot add, cairn robot list)' },
      { statusCode: 219, message: 'tape unit tape1: pool nosuch does not exist (cairn pool add nosuch)' },
      { statusCode: 20, message: expect.stringMatching(/^tape unit tape1: pool scratch holds the unassigned volumes/) },
      { statusCode: 20, message: "tape unit tape1: --drives 4 is more than robot tld's 3 drives" },
    ]);
    const added = await stu('--robot', 'tld', '--pool', 'daily');
    expect(added.code, added.stdout).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: 'tape1', robot: 'tld', pool: 'daily', maxConcurrentJobs: 3 });

    const [remove, drives] = await Promise.all([cairn('robot', 'remove', 'tld'), cairn('drive', 'list')]);
    expect(JSON.parse(remove.stdout)).toMatchObject({ statusCode: 20, message: 'robot tld is used by storage unit tape1: change or remove it first' });
    expect(JSON.parse(drives.stdout)).toHaveLength(3);
  });
});
