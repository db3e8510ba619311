import { afterEach, describe, expect, it } from 'vitest';
import { endJobOfExecution, sweepJobs } from '#core/jobs/execution-janitor.ts';
import type { ExecutionState } from '#core/ports/execution-status.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import { newMedia } from '#core/model/tape-media.ts';
import { openSqliteDatabase, type SqliteDatabase } from '#local/sqlite-database.ts';
import { sqliteMediaDatabase } from '#local/sqlite-media-manager.ts';
import { memoryStores, type MemoryStores } from '../memory/memory-stores.ts';
import { sampleJob, sampleRestoreJob } from '../contracts/fixtures.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NOW = new Date('2026-11-23T02:00:00Z');
const LONG_AGO = new Date(NOW.getTime() - 3600_000).toISOString();
const AT = new Date('2026-11-23T01:00:00Z');

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

/** Stores with a media manager (SQLite, the same EmmDatabase as DynamoDB's) holding robot vtl, its drive vtl-d0 and volume V00001 in slot 1. */
async function tapeStores(): Promise<MemoryStores & { emm: MediaDatabase }> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-restore-janitor-'));
  const db: SqliteDatabase = openSqliteDatabase(join(dir, 'cairn.db'));
  cleanup = () => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const emm = sqliteMediaDatabase(db);
  await emm.addRobot({ name: 'vtl', changer: { type: 'changer-script', script: '/etc/bacula/scripts/disk-changer', changerDevice: '/tmp/vtl.conf' } }, AT);
  await emm.addDrive({ name: 'vtl-d0', robot: 'vtl', index: 0, path: '/tmp/vtl/drive0', blockSize: 65536 });
  await emm.addMedia(newMedia('V00001', AT, { robot: 'vtl', slot: 1 }));
  return { ...memoryStores(), emm };
}

/** A restore job of `executionName` reading V00001 in vtl-d0, as its Reserve state left it. */
async function readingRestore(stores: MemoryStores, jobId: number, executionName: string): Promise<void> {
  await stores.jobs.create(sampleRestoreJob(jobId, { state: 'ACTIVE', executionName, updatedAt: LONG_AGO }));
  const granted = await stores.media.reserve({ jobId, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'vtl-d0' }, { kind: 'volume', pool: 'scratch', mediaId: 'V00001' }], at: AT });
  expect(granted.granted).toBe(true);
}

describe('the execution janitor and restore executions', () => {
  for (const [status, statusCode] of [['ABORTED', 150], ['TIMED_OUT', 41]] as const) {
    it(`ends a restore job whose execution ended ${status} with ${statusCode}, records its drive as holding the volume, and frees drive and volume`, async () => {
      const stores = await tapeStores();
      await readingRestore(stores, 5, 'cli-restore-1');

      const action = await endJobOfExecution(stores, { executionName: 'cli-restore-1', kind: 'restore', status }, NOW);

      expect(action).toMatchObject({ jobId: 5, action: 'ended', statusCode, released: true, driveLeftLoaded: { drive: 'vtl-d0', mediaId: 'V00001' } });
      expect(await stores.jobs.get(5)).toMatchObject({ type: 'restore', state: 'DONE', statusCode });
      expect(await stores.media.listReservations()).toEqual([]);
      // Never recorded empty: nobody unloaded it. The scheduler's idle unload does, through the agent.
      expect(await stores.emm.getDrive('vtl-d0')).toMatchObject({ loaded: { mediaId: 'V00001' }, lastUsedAt: NOW.toISOString() });
    });
  }

  it('ends a restore job with the status a failed execution carries (84 from the agent\'s read)', async () => {
    const stores = await tapeStores();
    await readingRestore(stores, 5, 'cli-restore-2');

    await endJobOfExecution(stores, { executionName: 'cli-restore-2', kind: 'restore', status: 'FAILED', error: 'Status85', cause: 'media read error' }, NOW);

    expect(await stores.jobs.get(5)).toMatchObject({ state: 'DONE', statusCode: 85 });
  });

  it('leaves alone a job of another kind that recorded the same execution name', async () => {
    const stores = await tapeStores();
    await stores.jobs.create(sampleJob(3, { state: 'ACTIVE', executionName: 'same-name' }));

    expect(await endJobOfExecution(stores, { executionName: 'same-name', kind: 'restore', status: 'ABORTED' }, NOW)).toEqual({ executionName: 'same-name', action: 'no-job', released: false });
    expect((await stores.jobs.get(3))?.state).toBe('ACTIVE');
  });

  it('a restore job that ended but still holds its drive (Release failed) keeps its status; the drive is recorded and freed', async () => {
    const stores = await tapeStores();
    await readingRestore(stores, 5, 'cli-restore-3');
    await stores.jobs.update(5, (job) => ({ ...job, state: 'DONE', statusCode: 0 }));

    const action = await endJobOfExecution(stores, { executionName: 'cli-restore-3', kind: 'restore', status: 'FAILED', error: 'ReservationNotReleased' }, NOW);

    expect(action).toMatchObject({ action: 'already-ended', statusCode: 0, released: true, driveLeftLoaded: { drive: 'vtl-d0' } });
    expect(await stores.media.listReservations()).toEqual([]);
  });
});

describe('the sweep and restore jobs', () => {
  it('looks a restore job\'s execution up on the restore workflow, a backup job\'s on the backup workflow', async () => {
    const stores = await tapeStores();
    await readingRestore(stores, 5, 'restore-stopped');
    await stores.jobs.create(sampleJob(6, { executionName: 'backup-running', updatedAt: LONG_AGO }));
    const asked: string[] = [];
    const on = (workflow: string, known: Record<string, ExecutionState>) => ({ describe: async (name: string) => (asked.push(`${workflow}:${name}`), known[name]) });

    const report = await sweepJobs(
      { ...stores, executions: on('backup', { 'backup-running': { status: 'RUNNING' } }), restoreExecutions: on('restore', { 'restore-stopped': { status: 'ABORTED' } }) },
      await stores.jobs.list(),
      NOW,
    );

    expect(asked.sort()).toEqual(['backup:backup-running', 'restore:restore-stopped']);
    expect(report.ended).toEqual([expect.objectContaining({ jobId: 5, statusCode: 150, released: true, driveLeftLoaded: { drive: 'vtl-d0', mediaId: 'V00001' } })]);
    expect((await stores.jobs.get(6))?.state).toBe('QUEUED');
  });

  it('without the restore workflow, never checks a restore job (it would be ended as gone)', async () => {
    const stores = await tapeStores();
    await readingRestore(stores, 5, 'restore-running');
    const asked: string[] = [];

    const report = await sweepJobs({ ...stores, executions: { describe: async (name) => (asked.push(name), undefined) } }, await stores.jobs.list(), NOW);

    expect(asked).toEqual([]);
    expect(report.ended).toEqual([]);
    expect((await stores.jobs.get(5))?.state).toBe('ACTIVE');
  });

  it('never releases as stranded what a spared holder (an idle unload in flight) holds', async () => {
    const stores = await tapeStores();
    await stores.media.reserve({ jobId: 900, resources: [{ kind: 'drive', storageUnit: 'tape1', drive: 'vtl-d0' }, { kind: 'volume', pool: 'scratch', mediaId: 'V00001' }], at: AT });
    const executions = { describe: async () => undefined };

    const spared = await sweepJobs({ ...stores, executions, spared: async () => new Set([900]) }, [], NOW);
    expect(spared.released).toEqual([]);
    const notSpared = await sweepJobs({ ...stores, executions }, [], NOW);
    expect(notSpared.released).toEqual([900]);
  });
});
