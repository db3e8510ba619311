import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adoptJobSnapshots, deleteJobSnapshots, takeJobSnapshots, type SnapshotAgent } from '#agent/snapshot/job-snapshots.ts';
import { cleanUpSnapshots } from '#agent/snapshot/snapshot-cleanup.ts';
import { openSnapshotAgent } from '#agent/snapshot/snapshot-agent.ts';
import { currentProcess, isProcessAlive, processStartTime } from '#agent/snapshot/process-identity.ts';
import { BTRFS_SNAPSHOT_DIRECTORY } from '#agent/snapshot/btrfs-provider.ts';
import { btrfsLoopSkipReason, makeBtrfsLoop, type BtrfsLoop } from '#test/support/btrfs-loop.ts';

const skipReason = btrfsLoopSkipReason();
const WORK = `/tmp/i11-snap-lifecycle/job-snapshots-${process.pid}`;

/** A process that has ended: its pid names nobody (or, later, somebody else). */
function deadProcess(): { pid: number; startTime: string } {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid) + " " + require("node:fs").readFileSync("/proc/self/stat","utf8").split(") ")[1].split(" ")[19])'], { encoding: 'utf8' });
  const [pid, startTime] = child.stdout.split(' ');
  return { pid: Number(pid), startTime: startTime! };
}

describe('who owns an image', () => {
  it('is alive while its process runs with the start time it had, and not once it ended or when the pid started at another time', () => {
    const self = currentProcess();
    expect(self).toEqual({ pid: process.pid, startTime: processStartTime(process.pid) });
    expect(isProcessAlive(self)).toBe(true);
    expect(isProcessAlive({ pid: process.pid, startTime: String(Number(self.startTime) + 1) })).toBe(false);
    expect(isProcessAlive(deadProcess())).toBe(false);
  });
});

describe.skipIf(Boolean(skipReason))(`the agent's snapshot steps on a btrfs loop device${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let loop: BtrfsLoop;
  let agents = 0;
  beforeAll(async () => {
    mkdirSync(WORK, { recursive: true });
    loop = await makeBtrfsLoop(join(WORK, 'btrfs'));
  });
  afterAll(async () => {
    await loop?.destroy();
    rmSync(WORK, { recursive: true, force: true });
  });

  const agentAt = (overrides: Partial<SnapshotAgent> = {}): SnapshotAgent => openSnapshotAgent(join(WORK, `state-${++agents}`), overrides);
  function volumeWith(name: string, dirs: string[]): string {
    const root = loop.subvolume(name);
    for (const dir of dirs) {
      mkdirSync(join(root, dir), { recursive: true });
      writeFileSync(join(root, dir, 'file.txt'), `${dir}\n`);
    }
    return root;
  }

  it('makes one image per volume for all its selections, reads the others live, and deletes them all with the registry', async () => {
    const a = volumeWith('a', ['x', 'y']);
    const b = volumeWith('b', ['z']);
    const agent = agentAt();

    const taken = await takeJobSnapshots({ jobId: 11, selections: [join(a, 'x'), join(b, 'z'), join(a, 'y'), WORK], choice: 'auto', required: false }, agent);

    expect(taken.images.map((i) => i.sourceRoot)).toEqual([a, b]);
    expect(taken.fellBack).toEqual([{ selection: WORK, reason: expect.stringContaining('not btrfs') }]);
    // The registry (by name) records each image with this process as its owner.
    const byName = [...taken.images].sort((x, y) => x.name.localeCompare(y.name));
    expect((await agent.registry.list()).map((r) => [r.name, r.owner.pid, r.image?.readRoot])).toEqual(byName.map((i) => [i.name, process.pid, i.readRoot]));
    expect(spawnSync('cat', [join(taken.images[0]!.readRoot, 'y', 'file.txt')], { encoding: 'utf8' }).stdout).toBe('y\n');

    const deleted = await deleteJobSnapshots({ jobId: 11, images: [] }, agent);
    expect(deleted).toEqual({ deleted: byName.map((i) => i.name), failed: [] });
    expect(await agent.registry.list()).toEqual([]);
    for (const image of taken.images) expect(await agent.openProviders({}).btrfs.exists(image)).toBe(false);
    // Again: nothing left, nothing fails.
    expect(await deleteJobSnapshots({ jobId: 11, images: [] }, agent)).toEqual({ deleted: [], failed: [] });
  });

  it('fails a required snapshot with 156 when one volume cannot be frozen, deleting the image it had already made', async () => {
    const good = volumeWith('good', ['d']);
    const bad = volumeWith('bad', ['d']);
    // A file where the provider keeps its images: btrfs refuses to freeze this volume.
    writeFileSync(join(bad, BTRFS_SNAPSHOT_DIRECTORY), 'in the way\n');
    const agent = agentAt();

    const failing = takeJobSnapshots({ jobId: 12, selections: [join(good, 'd'), join(bad, 'd')], choice: 'btrfs', required: true }, agent);

    await expect(failing).rejects.toMatchObject({ statusCode: 156, message: expect.stringContaining(`a snapshot is required and btrfs could not freeze ${bad}`) });
    expect(await agent.registry.list()).toEqual([]);
    expect(spawnSync('btrfs', ['subvolume', 'list', loop.mountPoint], { encoding: 'utf8' }).stdout).not.toContain('cairn-job-12-');
  });

  it('lets the next command of the job take its images over, and removes another job\'s once its dead owner\'s hold is past (the cloud agent)', async () => {
    const vol = volumeWith('cloud', ['d']);
    let now = new Date('2026-12-03T14:00:00.000Z');
    const dead = deadProcess();
    // The Snapshot step's process: it ends once it answered.
    const snapshotStep = agentAt({ owner: dead, now: () => now, handoverSeconds: 600 });
    const [mine] = (await takeJobSnapshots({ jobId: 21, selections: [join(vol, 'd')], choice: 'btrfs', required: true }, snapshotStep)).images;
    const other = openSnapshotAgent(snapshotStep.registry.directory.replace(/\/snapshots$/, ''), { now: () => now });

    // Within the hold, a command of another job keeps the image; after it, removes it.
    now = new Date('2026-12-03T14:09:59.000Z');
    expect((await cleanUpSnapshots(other, { spare: (r) => r.jobId === 99 })).kept.map((k) => k.name)).toEqual([mine!.name]);
    // The Stream of job 21 takes it over: this process owns it now, held again from now.
    expect(await adoptJobSnapshots(21, other)).toBe(1);
    now = new Date('2026-12-03T14:20:00.000Z');
    expect((await cleanUpSnapshots(other)).kept).toEqual([{ name: mine!.name, jobId: 21, why: 'its owner process is running' }]);

    // Its owner gone and the hold past: removed at the next start.
    const later = openSnapshotAgent(snapshotStep.registry.directory.replace(/\/snapshots$/, ''), { now: () => new Date('2026-12-03T15:00:00.000Z'), isAlive: () => false });
    const report = await cleanUpSnapshots(later);
    expect(report.removed).toEqual([{ name: mine!.name, jobId: 21, why: expect.stringContaining('no command of job 21 took it over') }]);
    expect(await later.openProviders({}).btrfs.exists(mine!)).toBe(false);
    expect(await later.registry.list()).toEqual([]);
  });

  it('removes the image of an agent that died inside create, which its record never named, and the record of one that was never made', async () => {
    const vol = volumeWith('died-in-create', ['d']);
    const agent = agentAt({ isAlive: () => false, now: () => new Date('2026-12-03T16:00:00.000Z') });
    const base = { jobId: 41, method: 'btrfs' as const, sourceRoot: vol, owner: deadProcess(), recordedAt: '2026-12-03T14:00:00.000Z', heldUntil: '2026-12-03T14:30:00.000Z' };
    // Made, then the agent died before recording it; and recorded, then the agent died before making it.
    await agent.registry.put({ ...base, name: 'cairn-job-41-made' });
    const made = await agent.openProviders({}).btrfs.create({ sourceRoot: vol, name: 'cairn-job-41-made', jobId: 41, createdAt: base.recordedAt });
    await agent.registry.put({ ...base, name: 'cairn-job-41-never' });

    const report = await cleanUpSnapshots(agent);

    expect(report.removed.map((r) => r.name)).toEqual(['cairn-job-41-made', 'cairn-job-41-never']);
    expect(report.problems).toEqual([]);
    expect(await agent.openProviders({}).btrfs.exists(made)).toBe(false);
    expect(await agent.registry.list()).toEqual([]);
  });
});
