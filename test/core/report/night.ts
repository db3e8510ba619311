import { BackupJob, RestoreJob, type Job } from '#core/model/job.ts';

/**
 * A night of mixed results, as the job table holds it on the morning of
 * 2026-12-03: the report of the 24 hours to 06:00Z must list each job
 * correctly. Shared by the core test and the runtime tests (SQLite, the
 * report Lambda on the emulator), which store these records and report them.
 */
export const NIGHT_END = new Date('2026-12-03T06:00:00Z');

const GiB = 1024 ** 3;

function backup(fields: Partial<BackupJob> & Pick<BackupJob, 'jobId' | 'client' | 'state'>): BackupJob {
  return BackupJob.parse({
    type: 'backup',
    policy: 'nightly',
    schedule: 'daily-incr',
    level: 'differential-incremental',
    storageUnit: 'local-disk',
    selections: ['/srv'],
    retentionDays: 14,
    updatedAt: fields.endedAt ?? '2026-12-03T05:59:00Z',
    ...fields,
  });
}

export function nightJobs(): Job[] {
  return [
    // Outside the window: ended the night before.
    backup({ jobId: 1, client: 'old', state: 'DONE', statusCode: 0, queuedAt: '2026-12-01T22:00:00Z', startedAt: '2026-12-01T22:00:05Z', endedAt: '2026-12-02T05:00:00Z', backupId: 'old_1', progress: { files: 10, bytes: 100, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    // Success: 10 GiB in 1000 s, the agent measured 12 MiB/s over its active part.
    backup({ jobId: 2, client: 'web1', state: 'DONE', statusCode: 0, level: 'full', schedule: 'weekly-full', queuedAt: '2026-12-02T22:00:00Z', startedAt: '2026-12-02T22:00:00Z', endedAt: '2026-12-02T22:16:40Z', backupId: 'web1_1796248800', progress: { files: 5000, bytes: 10 * GiB, throughputBps: 12 * 1024 * 1024, writerWaits: 0, readerWaits: 0 } }),
    // Success with no measured rate: bytes over duration (1 GiB in 512 s = 2 MiB/s).
    backup({ jobId: 3, client: 'web2', state: 'DONE', statusCode: 0, queuedAt: '2026-12-02T22:00:00Z', startedAt: '2026-12-02T22:00:00Z', endedAt: '2026-12-02T22:08:32Z', backupId: 'web2_1796248800', progress: { files: 300, bytes: GiB, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    // Partial: two files could not be read.
    backup({ jobId: 4, client: 'db1', state: 'DONE', statusCode: 1, statusText: 'the requested operation was partially successful', queuedAt: '2026-12-02T22:00:00Z', startedAt: '2026-12-02T22:01:00Z', endedAt: '2026-12-02T23:01:00Z', backupId: 'db1_1796248860', unreadable: ['/srv/db/lock: permission denied', '/srv/db/tmp.sock: not a regular file'], progress: { files: 700, bytes: 3600, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    // Failures with different codes and reasons.
    backup({ jobId: 5, client: 'mail', state: 'DONE', statusCode: 219, statusText: 'the required storage unit is unavailable', error: 'storage unit tape-1 is DOWN', queuedAt: '2026-12-02T22:00:00Z', endedAt: '2026-12-02T22:30:00Z', attempt: 2 }),
    backup({ jobId: 6, client: 'files', state: 'DONE', statusCode: 13, statusText: 'file read failed', error: '/srv/share: input/output error', queuedAt: '2026-12-02T22:00:00Z', startedAt: '2026-12-02T22:00:10Z', endedAt: '2026-12-02T22:05:10Z', backupId: 'files_1796248810', progress: { files: 12, bytes: 3000, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    backup({ jobId: 7, client: 'laptop', state: 'DONE', statusCode: 196, queuedAt: '2026-12-02T22:00:00Z', endedAt: '2026-12-03T02:00:00Z' }),
    // A multiple-data-streams parent (success) and its two streams; the parent holds what they moved, in all.
    backup({ jobId: 8, client: 'nas', state: 'DONE', statusCode: 0, queuedAt: '2026-12-02T23:00:00Z', startedAt: '2026-12-02T23:00:00Z', endedAt: '2026-12-02T23:10:00Z', childJobIds: [9, 10], progress: { files: 30, bytes: 6000, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    backup({ jobId: 9, client: 'nas', state: 'DONE', statusCode: 0, parentJobId: 8, selections: ['/srv/a'], queuedAt: '2026-12-02T23:00:01Z', startedAt: '2026-12-02T23:00:01Z', endedAt: '2026-12-02T23:05:00Z', backupId: 'nas_1796252401', progress: { files: 10, bytes: 2000, throughputBps: 100, writerWaits: 0, readerWaits: 0 } }),
    backup({ jobId: 10, client: 'nas', state: 'DONE', statusCode: 0, parentJobId: 8, selections: ['/srv/b'], queuedAt: '2026-12-02T23:00:01Z', startedAt: '2026-12-02T23:00:02Z', endedAt: '2026-12-02T23:10:00Z', backupId: 'nas_1796252402', progress: { files: 20, bytes: 4000, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    // Still running at the report's time: 2 GiB so far.
    backup({ jobId: 11, client: 'big', state: 'ACTIVE', level: 'full', queuedAt: '2026-12-03T05:00:00Z', startedAt: '2026-12-03T05:00:00Z', backupId: 'big_1796274000', progress: { files: 90, bytes: 2 * GiB, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
    // A restore that ended in the window (no policy).
    RestoreJob.parse({ jobId: 12, type: 'restore', client: 'web1', state: 'DONE', statusCode: 0, source: { backupId: 'web1_1796248800' }, target: { client: 'web1', directory: '/restore' }, queuedAt: '2026-12-03T01:00:00Z', startedAt: '2026-12-03T01:00:00Z', endedAt: '2026-12-03T01:00:10Z', updatedAt: '2026-12-03T01:00:10Z', progress: { files: 3, bytes: 30, throughputBps: 0, writerWaits: 0, readerWaits: 0 } }),
  ];
}
