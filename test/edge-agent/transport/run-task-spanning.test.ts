import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { runTask } from '#agent/transport/run-task.ts';
import { FileRendezvous } from '#agent/tape/spanning/file-rendezvous.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { writeLabel } from '#agent/tape/format/volume-label.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import type { BackupTaskInput, BackupTaskResult } from '#core/model/task.ts';
import type { TapeTarget, VolumeFullOutcome } from '#core/model/tape-task.ts';
import type { TaskToken } from '#core/ports/task-token.ts';
import { tempDir } from '../helpers.ts';

const BLOCK = 64 * 1024;
const CAPACITY = 8 * 1024 * 1024;

/** A task token that records what the agent ends it with. */
function recordingToken(): TaskToken & { ended: Array<{ succeed: unknown } | { fail: unknown }> } {
  const ended: Array<{ succeed: unknown } | { fail: unknown }> = [];
  return { ended, heartbeat: async () => undefined, succeed: async (output) => void ended.push({ succeed: output }), fail: async (error) => void ended.push({ fail: error }) };
}

/**
 * Spanning on an agent host as on AWS: the Stream step's `runTask` (a
 * tape backup) and the Continue step's `runTask` (continue-backup), each
 * with its own task token and its own FileRendezvous over one state
 * directory, as two cairn-agent processes would have. The robot's part
 * (Mount moving the next volume into the drive) is a link repointed, as
 * disk-changer does.
 */
describe('a tape backup that fills its volume, run by the cairn-agent entry (runTask)', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  it('ends the Stream token with volume-full, waits, takes the Continue step\'s volume and token, and ends that token with the result naming both volumes', async () => {
    const { dir, cleanup } = tempDir('run-task-span');
    cleanups.push(cleanup);
    const volumes = ['VOL001', 'VOL002'].map((mediaId) => ({ mediaId, file: join(dir, mediaId) }));
    for (const { mediaId, file } of volumes) {
      writeFileSync(file, ''); // a blank cartridge
      const tape = await FileTape.open(file, { blockSize: BLOCK });
      await writeLabel(tape, { mediaId, pool: 'daily', writtenAt: '2026-12-03T04:00:00.000Z', writtenBy: 'cairn test' });
      await tape.close();
    }
    const drivePath = join(dir, 'drive0');
    symlinkSync(volumes[0]!.file, drivePath);
    const source = join(dir, 'source');
    mkdirSync(source);
    for (let i = 0; i < 80; i++) writeFileSync(join(source, `f${i}`), randomBytes(100 * 1024));
    const target = (mediaId: string, slot: number): TapeTarget => ({
      drive: { name: 'd0', index: 0, path: drivePath, blockSize: BLOCK, fileTapeCapacityBytes: CAPACITY },
      volume: { mediaId, slot, pool: 'daily', appendFile: 1, label: false },
      spanWaitSeconds: 30,
    });
    const unit = StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'lib1', pool: 'daily', index: { name: 'idx', kind: 'disk', path: join(dir, 'index') }, pieceBytes: 1024 * 1024 });
    const task: BackupTaskInput = { jobId: 5, backupId: 'host1_1796270400', client: 'host1', policy: 'p1', schedule: 'full', level: 'full', selections: [source], storageUnit: unit, buffers: { count: 4, sizeBytes: 64 * 1024 }, tape: target('VOL001', 1) };
    const stateDir = join(dir, 'state');
    const tokens: Record<string, ReturnType<typeof recordingToken>> = { 'token-1': recordingToken(), 'token-2': recordingToken() };
    const adapters = (taskToken: string) => ({
      token: tokens[taskToken]!,
      openStore: openStorageUnit,
      clock: { now: () => new Date() },
      spanning: { rendezvous: new FileRendezvous({ directory: stateDir, pollMs: 50 }), taskToken, tokenFor: (t: string) => tokens[t]!, waiter: () => 'w-1' },
    });

    const stream = runTask({ command: JSON.stringify({ kind: 'backup', task }) }, adapters('token-1'));
    for (let i = 0; i < 400 && tokens['token-1']!.ended.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const [first] = tokens['token-1']!.ended;
    expect(first).toMatchObject({ succeed: { outcome: 'volume-full', jobId: 5, waiter: 'w-1', mediaId: 'VOL001', drive: 'd0' } });
    const full = (first as { succeed: VolumeFullOutcome }).succeed;
    expect(full.fragments).toBeGreaterThan(0);
    expect(full.appendFile).toBe(1 + full.fragments);

    // The Mount of the next volume (the robot): the drive now holds VOL002.
    unlinkSync(drivePath);
    symlinkSync(volumes[1]!.file, drivePath);
    const continued = await runTask({ command: JSON.stringify({ kind: 'continue-backup', task: { jobId: 5, waiter: 'w-1', tape: target('VOL002', 2) } }) }, adapters('token-2'));
    expect(continued).toBe(0);

    expect(await stream).toBe(0);
    expect(tokens['token-1']!.ended).toHaveLength(1);
    expect(tokens['token-2']!.ended).toHaveLength(1);
    const result = (tokens['token-2']!.ended[0] as { succeed: BackupTaskResult }).succeed;
    expect(result.statusCode).toBe(0);
    const onVolume = result.fragments.map((f) => (f.location.kind === 'tape' ? f.location.mediaId : ''));
    expect([...new Set(onVolume)]).toEqual(['VOL001', 'VOL002']);
    expect(onVolume.filter((v) => v === 'VOL001')).toHaveLength(full.fragments);
    expect(result.fileCount).toBe(81);
  });
});
