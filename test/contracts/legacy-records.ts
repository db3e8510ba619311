/**
 * Records as the code before job kinds and resource requests wrote them
 * (issue 7), kept verbatim so the adapters are tested against what is in
 * real databases, not against what today's code would write.
 */

/** A retried scheduled backup job, DONE, with every optional field the old Job had. */
export const legacyBackupJobJson = JSON.stringify({
  jobId: 5,
  type: 'backup',
  state: 'DONE',
  statusCode: 1,
  statusText: 'the requested operation was partially successful',
  attempt: 2,
  policy: 'daily-home',
  client: 'client1',
  schedule: 'incr',
  level: 'differential-incremental',
  storageUnit: 'disk1',
  selections: ['/home', '/etc'],
  exclude: ['*.tmp'],
  retentionDays: 14,
  backupId: 'client1_1793498400',
  baseBackupId: 'client1_1793412000',
  executionName: 'daily-home-client1-incr-1793491200',
  windowStart: '2026-11-01T00:00:00.000Z',
  windowEnd: '2026-11-01T06:00:00.000Z',
  attempts: [{ attempt: 1, statusCode: 84, error: 'media write error', backupId: 'client1_1793494800', startedAt: '2026-11-01T01:00:00.000Z', endedAt: '2026-11-01T01:05:00.000Z' }],
  progress: { files: 120, bytes: 1048576, throughputBps: 4096, writerWaits: 3, readerWaits: 1 },
  unreadable: ['/home/user/locked: permission denied (EACCES)'],
  owner: 'local:host1:4242',
  queuedAt: '2026-11-01T00:00:05.000Z',
  startedAt: '2026-11-01T02:00:00.000Z',
  endedAt: '2026-11-01T02:10:00.000Z',
  updatedAt: '2026-11-01T02:10:00.000Z',
});
