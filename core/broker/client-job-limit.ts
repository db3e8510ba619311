import type { BackupJob } from '../model/job.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { Settings } from '../settings.ts';

/**
 * Maximum jobs per client (NetBackup's global attribute), as the broker
 * applies it: a queued backup of a client that already runs
 * `maxJobsPerClient` backups waits. Running means ACTIVE; a
 * multiple-data-streams parent (`childJobIds`) runs nothing itself and is
 * not counted. Undefined when the job may go on (always, when the setting is
 * unset), else why it waits.
 *
 * Best effort across jobs: the count is read before the reservation, not in
 * its transaction, so two jobs of one client reserving at the same instant
 * may both pass. The streams of one parent never exceed it: their runtime
 * starts at most the limit at once (core/jobs/data-streams.ts `streamLimit`).
 */
export async function clientJobLimitWait(jobs: Pick<JobStore, 'list'>, job: BackupJob, settings: Pick<Settings, 'maxJobsPerClient'>): Promise<string | undefined> {
  const limit = settings.maxJobsPerClient;
  if (limit === undefined || job.state !== 'QUEUED') return undefined;
  const running = (await jobs.list({ state: 'ACTIVE', limit: 5000 })).filter((j) => j.type === 'backup' && j.client === job.client && j.jobId !== job.jobId && j.childJobIds === undefined);
  if (running.length < limit) return undefined;
  return `client ${job.client} runs ${running.length} backup jobs (${running.map((j) => j.jobId).join(', ')}), maxJobsPerClient is ${limit}`;
}
