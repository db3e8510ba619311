import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdersOfUnloads, unloadIdleDrivesThroughAgent, type AgentIdleUnloadDeps } from '#core/media/idle-unload.ts';
import type { OperatorCommand } from '#core/model/agent-command.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { newMedia } from '#core/model/tape-media.ts';
import type { OperatorCommandState, OperatorCommands } from '#core/ports/operator-commands.ts';
import { openSqliteDatabase } from '#local/sqlite-database.ts';
import { sqliteMediaDatabase } from '#local/sqlite-media-manager.ts';
import { memoryStores } from '../../memory/memory-stores.ts';

const LOADED = new Date('2026-12-03T04:00:00Z');
const after = (seconds: number) => new Date(LOADED.getTime() + seconds * 1000);

/**
 * The agents as the scheduler sees them through the port: what was sent to
 * which instance, and where each command is, as the test sets it (in AWS:
 * SSM SendCommand and GetCommandInvocation, test/aws/idle-unload-aws.test.ts).
 */
class ScriptedAgents implements OperatorCommands {
  readonly sent: { instanceId: string; command: OperatorCommand; commandId: string }[] = [];
  readonly states = new Map<string, OperatorCommandState>();
  async send(instanceId: string, command: OperatorCommand): Promise<string> {
    const commandId = `cmd-${this.sent.length + 1}`;
    this.sent.push({ instanceId, command, commandId });
    this.states.set(commandId, { state: 'running' });
    return commandId;
  }
  async state(commandId: string): Promise<OperatorCommandState> {
    return this.states.get(commandId) ?? { state: 'failed', reason: `no command ${commandId}` };
  }
}

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

/** Robot vtl (client tapehost on mi-1), drive vtl-d0 holding V00001 since LOADED, its unit's delay 180 s. */
async function setup(): Promise<AgentIdleUnloadDeps & { agents: ScriptedAgents }> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-idle-unload-'));
  const db = openSqliteDatabase(join(dir, 'cairn.db'));
  cleanup = () => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const stores = memoryStores();
  const emm = sqliteMediaDatabase(db);
  await stores.config.putClient({ name: 'tapehost', instanceId: 'mi-1' });
  await emm.addRobot({ name: 'vtl', client: 'tapehost', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/tmp/vtl.conf' } }, LOADED);
  await emm.addDrive({ name: 'vtl-d0', robot: 'vtl', index: 0, path: '/tmp/vtl/drive0', blockSize: 65536 });
  await emm.addPool({ name: 'p1' });
  await emm.addMedia({ ...newMedia('V00001', LOADED, { robot: 'vtl', slot: 1 }), pool: 'p1' });
  await stores.config.putStorageUnit(StorageUnit.parse({ name: 'tape1', kind: 'tape', robot: 'vtl', pool: 'p1', mediaUnmountDelaySeconds: 180, index: { name: 'idx', kind: 'disk', path: '/tmp/idx' } }));
  await emm.setDriveLoaded('vtl-d0', 'V00001', LOADED);
  return { config: stores.config, jobs: stores.jobs, media: stores.media, emm, agents: new ScriptedAgents() };
}

describe('the cloud idle drive unload', () => {
  it('sends the always-unload Unmount to the robot\'s agent once the delay passed, holding drive and volume under a fresh id until the agent answers', async () => {
    const deps = await setup();

    expect((await unloadIdleDrivesThroughAgent(deps, after(179))).sent).toEqual([]);
    const report = await unloadIdleDrivesThroughAgent(deps, after(181));

    expect(report.sent).toEqual([expect.objectContaining({ drive: 'vtl-d0', mediaId: 'V00001', instanceId: 'mi-1', commandId: 'cmd-1' })]);
    const { holder } = report.sent[0]!;
    expect(deps.agents.sent[0]).toMatchObject({ instanceId: 'mi-1', command: { kind: 'unmount', task: { jobId: holder, mediaId: 'V00001', slot: 1, keepLoaded: false, drive: { name: 'vtl-d0', index: 0 } } } });
    expect((await deps.media.listReservations()).map((r) => [r.jobId, r.kind])).toEqual([[holder, 'drive'], [holder, 'volume']]);
    expect(await deps.emm.getDrive('vtl-d0')).toMatchObject({ loaded: { mediaId: 'V00001' }, unloading: { holder, commandId: 'cmd-1', instanceId: 'mi-1' } });
    expect([...(await holdersOfUnloads(deps.emm))]).toEqual([holder]);

    // Still running on the agent: nothing changes, nothing is sent again.
    expect(await unloadIdleDrivesThroughAgent(deps, after(300))).toEqual({ sent: [], unloaded: [], pending: [{ drive: 'vtl-d0', mediaId: 'V00001', commandId: 'cmd-1' }], problems: [] });

    deps.agents.states.set('cmd-1', { state: 'answered', stdout: 'some host banner\n{"result":{"drive":"vtl-d0","unloaded":true}}\n' });
    const done = await unloadIdleDrivesThroughAgent(deps, after(360));

    expect(done.unloaded).toEqual([{ drive: 'vtl-d0', mediaId: 'V00001', unloaded: true }]);
    const drive = await deps.emm.getDrive('vtl-d0');
    expect(drive?.loaded).toBeUndefined();
    expect(drive?.unloading).toBeUndefined();
    expect(await deps.media.listReservations()).toEqual([]);
    expect(deps.agents.sent).toHaveLength(1);
  });

  it('leaves the drive to a job that reserved it first, and never unloads a drive a job holds', async () => {
    const deps = await setup();
    await deps.media.reserve({ jobId: 7, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'vtl-d0' }], at: LOADED });

    const report = await unloadIdleDrivesThroughAgent(deps, after(3600));

    expect(report).toEqual({ sent: [], unloaded: [], pending: [], problems: [] });
    expect(deps.agents.sent).toEqual([]);
  });

  for (const [what, state] of [
    ['the agent answers a failure', { state: 'answered', stdout: '{"statusCode":174,"message":"changer failed"}' }],
    ['SSM ends the command without an answer', { state: 'failed', reason: 'the agent on mi-1 did not answer command cmd-1: SSM says TimedOut' }],
    ['the answer is not the agent\'s', { state: 'answered', stdout: 'Segmentation fault' }],
  ] as const) {
    it(`keeps the drive recorded loaded when ${what}, frees the hold, says why, and sends again only at the next tick`, async () => {
      const deps = await setup();
      await unloadIdleDrivesThroughAgent(deps, after(200));
      deps.agents.states.set('cmd-1', state);

      const failed = await unloadIdleDrivesThroughAgent(deps, after(260));

      expect(failed.sent).toEqual([]);
      expect(failed.problems).toEqual([expect.stringMatching(/^drive vtl-d0: the unload of V00001 failed \(.+\); the drive stays recorded loaded/)]);
      const drive = await deps.emm.getDrive('vtl-d0');
      expect(drive?.loaded?.mediaId).toBe('V00001');
      expect(drive?.unloading).toBeUndefined();
      expect(await deps.media.listReservations()).toEqual([]);
      expect((await unloadIdleDrivesThroughAgent(deps, after(320))).sent).toEqual([expect.objectContaining({ drive: 'vtl-d0', commandId: 'cmd-2' })]);
    });
  }

  it('sends nothing and holds nothing when the robot\'s client has no instance (48)', async () => {
    const deps = await setup();
    await deps.emm.addRobot({ name: 'lonely', client: 'nohost', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/tmp/l.conf' } }, LOADED);
    await deps.emm.addDrive({ name: 'lonely-d0', robot: 'lonely', index: 0, path: '/tmp/l/drive0', blockSize: 65536 });
    await deps.emm.addMedia({ ...newMedia('L00001', LOADED, { robot: 'lonely', slot: 1 }), pool: 'p1' });
    await deps.config.putStorageUnit(StorageUnit.parse({ name: 'tape2', kind: 'tape', robot: 'lonely', pool: 'p1', index: { name: 'idx', kind: 'disk', path: '/tmp/idx' } }));
    await deps.emm.setDriveLoaded('lonely-d0', 'L00001', LOADED);

    const report = await unloadIdleDrivesThroughAgent(deps, after(3600));

    expect(report.problems).toEqual([expect.stringMatching(/^drive lonely-d0: volume L00001 could not be unloaded: robot lonely is driven by the agent of client nohost, which has no instance/)]);
    expect(deps.agents.sent.map((s) => s.command.kind === 'unmount' && s.command.task.drive.name)).toEqual(['vtl-d0']);
    expect((await deps.media.listReservations()).filter((r) => r.kind === 'drive').map((r) => r.drive)).toEqual(['vtl-d0']);
  });
});
