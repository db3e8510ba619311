import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTask } from '#agent/transport/run-task.ts';
import { runOperatorCommand } from '#agent/transport/run-command.ts';
import { openSnapshotAgent } from '#agent/snapshot/snapshot-agent.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { JobSnapshots } from '#core/model/snapshot.ts';
import type { BackupTaskInput } from '#core/model/task.ts';
import type { TaskToken } from '#core/ports/task-token.ts';
import { btrfsLoopSkipReason, makeBtrfsLoop, type BtrfsLoop } from '#test/support/btrfs-loop.ts';

const skipReason = btrfsLoopSkipReason();
const WORK = `/tmp/i11-snap-lifecycle/run-task-snapshot-${process.pid}`;

function recordingToken(): TaskToken & { ended: Array<{ succeed: unknown } | { fail: unknown }> } {
  const ended: Array<{ succeed: unknown } | { fail: unknown }> = [];
  return { ended, heartbeat: async () => undefined, succeed: async (output) => void ended.push({ succeed: output }), fail: async (error) => void ended.push({ fail: error }) };
}

/** An identity no running process has: the Snapshot step's cairn-agent process, which ended once it answered. */
const endedProcess = { pid: 2 ** 22 + 17, startTime: '1' };

/**
 * The Snapshot, Stream and DeleteSnapshot steps as the cloud runs them: each
 * its own `cairn-agent run-task` (runTask) with its own task token, over one
 * state directory on the host.
 */
describe.skipIf(Boolean(skipReason))(`the cloud agent's snapshot commands on a btrfs loop device${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let loop: BtrfsLoop;
  beforeAll(async () => {
    mkdirSync(WORK, { recursive: true });
    loop = await makeBtrfsLoop(join(WORK, 'btrfs'));
  });
  afterAll(async () => {
    await loop?.destroy();
    rmSync(WORK, { recursive: true, force: true });
  });

  it('freezes the selection, streams the frozen content under the original paths, and deletes the image', async () => {
    const data = loop.subvolume('data');
    mkdirSync(join(data, 'docs'));
    writeFileSync(join(data, 'docs', 'report.txt'), 'as frozen\n');
    const stateDir = join(WORK, 'state');
    const unit = StorageUnit.parse({ name: 'disk1', kind: 'disk', path: join(WORK, 'storage') });
    const adapters = (token: TaskToken, owner = openSnapshotAgent(stateDir).owner) => ({ token, openStore: openStorageUnit, clock: { now: () => new Date() }, snapshots: openSnapshotAgent(stateDir, { owner }) });

    // Snapshot: its process answers and ends.
    const snapshotToken = recordingToken();
    const snapshotStatus = await runTask({ command: JSON.stringify({ kind: 'snapshot', task: { jobId: 31, selections: [join(data, 'docs')], choice: 'auto', required: true } }) }, adapters(snapshotToken, endedProcess));
    expect(snapshotStatus).toBe(0);
    const snapshots = (snapshotToken.ended[0] as { succeed: JobSnapshots }).succeed;
    expect(snapshots.images).toHaveLength(1);
    expect(snapshots.fellBack).toEqual([]);
    // The live file changes after the snapshot instant.
    writeFileSync(join(data, 'docs', 'report.txt'), 'changed later\n');

    // Stream: reads inside the image, records the original path; takes the job's image over.
    const task: BackupTaskInput = { jobId: 31, backupId: 'host1_1796270400', client: 'host1', policy: 'p1', schedule: 'full', level: 'full', selections: [join(data, 'docs')], storageUnit: unit, snapshots };
    const streamToken = recordingToken();
    expect(await runTask({ command: JSON.stringify({ kind: 'backup', task }) }, adapters(streamToken))).toBe(0);
    expect(streamToken.ended[0]).toMatchObject({ succeed: { backupId: 'host1_1796270400', statusCode: 0 } });
    expect((await openSnapshotAgent(stateDir).registry.list()).map((r) => r.owner.pid)).toEqual([process.pid]);
    const extracted = join(WORK, 'extracted');
    mkdirSync(extracted);
    const fragment = spawnSync('find', [unit.kind === 'disk' ? unit.path : '', '-name', 'fragment-*.tar'], { encoding: 'utf8' }).stdout.trim();
    expect(spawnSync('tar', ['-xf', fragment, '-C', extracted]).status).toBe(0);
    expect(readFileSync(join(extracted, data, 'docs', 'report.txt'), 'utf8')).toBe('as frozen\n');

    // DeleteSnapshot.
    const deleteToken = recordingToken();
    expect(await runTask({ command: JSON.stringify({ kind: 'delete-snapshot', task: { jobId: 31 } }) }, adapters(deleteToken))).toBe(0);
    expect(deleteToken.ended).toEqual([{ succeed: { deleted: [snapshots.images[0]!.name], failed: [] } }]);
    expect(await openSnapshotAgent(stateDir).registry.list()).toEqual([]);
    expect(spawnSync('btrfs', ['subvolume', 'list', loop.mountPoint], { encoding: 'utf8' }).stdout).not.toContain('cairn-job-');
  });

  it('deletes a stopped job\'s images on the janitor\'s operator command (no task token)', async () => {
    const data = loop.subvolume('stopped');
    writeFileSync(join(data, 'a.txt'), 'a\n');
    const stateDir = join(WORK, 'state-stopped');
    const token = recordingToken();
    await runTask({ command: JSON.stringify({ kind: 'snapshot', task: { jobId: 32, selections: [data], choice: 'btrfs', required: true } }) }, { token, openStore: openStorageUnit, clock: { now: () => new Date() }, snapshots: openSnapshotAgent(stateDir, { owner: endedProcess }) });
    const [image] = (token.ended[0] as { succeed: JobSnapshots }).succeed.images;

    const answer = await runOperatorCommand(JSON.stringify({ kind: 'delete-snapshot', task: { jobId: 32 } }), undefined, openSnapshotAgent(stateDir));

    expect(answer).toEqual({ deleted: [image!.name], failed: [] });
    expect(await openSnapshotAgent(stateDir).registry.list()).toEqual([]);
  });
});
