import { describe, expect, it } from 'vitest';
import { endJobOfExecution } from '#core/jobs/execution-janitor.ts';
import { sendSnapshotDelete } from '#core/jobs/snapshot-delete.ts';
import type { OperatorCommand } from '#core/model/agent-command.ts';
import type { OperatorCommands } from '#core/ports/operator-commands.ts';
import { memoryStores, type MemoryStores } from '../memory/memory-stores.ts';
import { sampleJob, samplePolicy, sampleStorageUnit } from '../contracts/fixtures.ts';

const NOW = new Date('2026-11-23T02:00:00Z');

/** Operator commands that record what is sent and answer with a command id (the port's contract; no host runs them here). */
function recordingAgents(): OperatorCommands & { sent: Array<{ instanceId: string; command: OperatorCommand }> } {
  const sent: Array<{ instanceId: string; command: OperatorCommand }> = [];
  return { sent, send: async (instanceId, command) => (sent.push({ instanceId, command }), `cmd-${sent.length}`), state: async () => ({ state: 'running' }) };
}

async function storesWith(snapshot: 'btrfs' | 'none'): Promise<MemoryStores> {
  const stores = memoryStores(NOW);
  await stores.config.putStorageUnit(sampleStorageUnit('disk1'));
  await stores.config.putPolicy(samplePolicy('daily-home', { snapshot, clients: [{ name: 'client1', priority: 1, agentInstanceId: 'mi-0123456789abcdef0' }] }));
  return stores;
}

describe('the cloud janitor deletes the snapshots of a job whose execution was stopped', () => {
  it('sends delete-snapshot for the job to the instance its commands went to', async () => {
    const stores = await storesWith('btrfs');
    const agents = recordingAgents();
    expect(await sendSnapshotDelete({ config: stores.config, agents }, sampleJob(7, { state: 'ACTIVE' }))).toEqual({ instanceId: 'mi-0123456789abcdef0', commandId: 'cmd-1' });
    expect(agents.sent).toEqual([{ instanceId: 'mi-0123456789abcdef0', command: { kind: 'delete-snapshot', task: { jobId: 7, images: [] } } }]);
  });

  it('sends nothing for a policy that takes no snapshot', async () => {
    const stores = await storesWith('none');
    const agents = recordingAgents();
    expect(await sendSnapshotDelete({ config: stores.config, agents }, sampleJob(7, { state: 'ACTIVE' }))).toBeUndefined();
    expect(agents.sent).toEqual([]);
  });

  it('ends the job and reports the command it sent, or why it could not, without failing', async () => {
    const stores = await storesWith('btrfs');
    const agents = recordingAgents();
    await stores.jobs.create(sampleJob(7, { state: 'ACTIVE', executionName: 'e7' }));
    await stores.jobs.create(sampleJob(8, { state: 'ACTIVE', executionName: 'e8' }));
    const deps = { jobs: stores.jobs, media: stores.media, catalog: stores.catalog };

    const sent = await endJobOfExecution({ ...deps, deleteSnapshots: (job) => sendSnapshotDelete({ config: stores.config, agents }, job) }, { executionName: 'e7', status: 'ABORTED' }, NOW);
    const refused = await endJobOfExecution({ ...deps, deleteSnapshots: async () => Promise.reject(new Error('SSM is down')) }, { executionName: 'e8', status: 'TIMED_OUT' }, NOW);

    expect(sent).toMatchObject({ jobId: 7, action: 'ended', statusCode: 150, snapshotDelete: { instanceId: 'mi-0123456789abcdef0', commandId: 'cmd-1' } });
    expect(refused).toMatchObject({ jobId: 8, action: 'ended', statusCode: 41, snapshotDelete: { problem: expect.stringContaining('SSM is down') } });
    expect((await stores.jobs.get(8))?.state).toBe('DONE');
  });
});
