import { runAsJob, type LifecycleJobDeps, type LifecycleJobRun } from '#core/jobs/lifecycle-job.ts';
import { CATALOG_CLIENT } from '#core/model/dr-file.ts';
import { finishJob } from '#core/jobs/job-service.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { CatalogBackupOutcome } from '#agent/catalog/catalog-image.ts';

/**
 * A catalog backup as a `catalog-backup` job, in either runtime: `write`
 * is the runtime's catalog backup (backupLocalCatalog, the cloud's table
 * dump), given `claimFor`, which records the catalog image on the job as
 * its id is claimed and claims it under the job's own id. So a run killed
 * after its claim leaves a job whose image the janitor finds and removes
 * (its process gone: at once). The job ends 0 with the image and the DR
 * file, or with the failure's status and reason (thrown on). `write` is
 * given the job's signal too: a cancel (`cairn jobs cancel`) stops it
 * before its claim, during the image's writing (the image writer removes
 * what it wrote) or before the catalog commit (the janitor removes the
 * ended job's claim and its image), and no DR file is written.
 */
export async function catalogBackupAsJob(
  deps: LifecycleJobDeps,
  job: { storageUnit: string; policy?: string },
  write: (claimFor: (backupId: string) => Promise<number>, signal: AbortSignal) => Promise<CatalogBackupOutcome>,
): Promise<LifecycleJobRun<CatalogBackupOutcome>> {
  return runAsJob(
    deps,
    'catalog-backup',
    { client: CATALOG_CLIENT, storageUnit: job.storageUnit, ...(job.policy === undefined ? {} : { policy: job.policy }) },
    (context) =>
      write(async (backupId) => {
        // Recorded before the claim: the janitor then never sees a claim of this job it does not know the image of.
        await context.record({ image: backupId });
        return context.jobId;
      }, context.signal),
    (outcome) => ({ statusCode: 0, fields: { image: outcome.dr.backupId, drFile: outcome.drFile }, progress: { files: 1, bytes: outcome.dr.catalogBytes } }),
  );
}

/**
 * After a recovery: the catalog-backup job that wrote the recovered copy
 * was ACTIVE when its copy was taken, so it comes back ACTIVE. The DR file
 * names its complete image, so it ended well: it is ended 0 here (the
 * standalone janitor would do the same for a dead owner; nothing in the
 * cloud would end a `cli:` owner's). Resolves the job id ended, if any.
 */
export async function endRecoveredCatalogBackupJob(jobs: JobStore, image: { backupId: string; jobId: number }, now: Date): Promise<number | undefined> {
  const job = await jobs.get(image.jobId);
  if (job?.type !== 'catalog-backup' || job.state === 'DONE') return undefined;
  // The copy was taken before the image's id was claimed: the job it holds does not name the image yet.
  await jobs.update(image.jobId, (j) => (j.type === 'catalog-backup' && j.state !== 'DONE' ? { ...j, image: image.backupId } : j));
  await finishJob(jobs, image.jobId, { statusCode: StatusCode.SUCCESS }, now);
  return image.jobId;
}
