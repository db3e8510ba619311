import { cloudReachable, cloudStorageOpener } from '#aws/cloud-storage-opener.ts';
import { listS3Objects } from '#aws/s3-inventory.ts';
import { CairnError } from '#core/errors.ts';
import type { CatalogCheckDeps } from '#core/catalog/catalog-check.ts';
import { sweepJobs, SWEEP_QUIET_SECONDS, type SweepDeps } from '#core/jobs/execution-janitor.ts';
import { holdersOfUnloads } from '#core/media/idle-unload.ts';
import { tapeFragmentProblem } from '#core/media/tape-image-check.ts';
import type { FragmentLocation, Image, ImageCopy } from '#core/model/image.ts';
import type { Job } from '#core/model/job.ts';
import type { ExecutionStatuses } from '#core/ports/execution-status.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';

/** The structural check of one copy's objects (edge-agent/catalog/image-objects-check.ts, handed in by the entry). */
export type ImageObjectsCheck = (store: ObjectStore, image: Image, copy: ImageCopy, checkTapeFragment: (backupId: string, location: Extract<FragmentLocation, { kind: 'tape' }>) => Promise<string | undefined>) => Promise<string[]>;

export interface CloudCatalogCheckPorts extends Pick<CatalogCheckDeps, 'catalog' | 'config' | 'jobs'> {
  jobs: SweepDeps['jobs'];
  media: SweepDeps['media'];
  emm: NonNullable<CatalogCheckDeps['emm']>;
  /** The function's S3 client (aws/clients.ts). */
  s3: Parameters<typeof cloudStorageOpener>[0];
  /** The job workflows' executions, by the job kinds they run: a dead job is one whose execution is not RUNNING. */
  executions: Pick<SweepDeps, 'executions' | 'restoreExecutions' | 'verifyExecutions' | 'catalogExecutions'>;
  checkImageObjects: ImageObjectsCheck;
  now: () => Date;
}

/**
 * The catalog check's ports in the catalog-job Lambda (a scheduled
 * `catalogCheck`), as `cairn --aws catalog check` has them: S3 units listed
 * with ListObjectsV2, tape units' fragments against the media manager's
 * volume records, dead jobs found by their executions and ended as the
 * scheduler's sweep ends them. A disk unit (or a tape unit whose index is
 * on one) is a directory on an agent's host, which a Lambda cannot reach:
 * its listing fails naming it, so the report says it and the copies on it
 * were not checked (a problem, status 1), and those copies are never taken
 * for broken.
 */
export function cloudCatalogCheckDeps(ports: CloudCatalogCheckPorts): CatalogCheckDeps {
  const open = cloudStorageOpener(ports.s3);
  const executionsOf = (job: Job): ExecutionStatuses | undefined => {
    if (job.executionName === undefined || (job.type === 'backup' && job.childJobIds !== undefined)) return undefined;
    if (job.type === 'backup') return ports.executions.executions;
    if (job.type === 'restore') return ports.executions.restoreExecutions;
    if (job.type === 'verify') return ports.executions.verifyExecutions;
    return job.type === 'catalog-backup' || job.type === 'catalog-check' ? ports.executions.catalogExecutions : undefined;
  };
  return {
    catalog: ports.catalog,
    config: ports.config,
    jobs: ports.jobs,
    media: ports.media,
    emm: ports.emm,
    inventory: async (unit, prefix) => {
      if (unit.kind === 's3') return listS3Objects(unit, prefix, ports.s3);
      throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `${unit.name} is a disk unit on an agent's host, which the catalog-job Lambda cannot reach: it and the image copies on it were not checked (run \`cairn --aws catalog check\` where it is mounted)`);
    },
    openStorageUnit: open,
    checkCopy: async (image, copy, unit) => {
      // Not checked, and said so by the unit's listing above: a copy the Lambda cannot look at is not broken.
      if (!cloudReachable(unit)) return [];
      return ports.checkImageObjects(await open(unit), image, copy, async (backupId, location) => {
        // As cli/catalog-check-deps.ts: only what makes the data unreadable counts here.
        const media = await ports.emm.getMedia(location.mediaId);
        return tapeFragmentProblem(media && { ...media, images: [...media.images, backupId] }, backupId, location);
      });
    },
    whyDead: async (job) => {
      const statuses = executionsOf(job);
      if (statuses === undefined || job.executionName === undefined) return undefined;
      if (ports.now().getTime() - Date.parse(job.updatedAt) < SWEEP_QUIET_SECONDS * 1000) return undefined;
      const state = await statuses.describe(job.executionName);
      if (state && (state.status === 'RUNNING' || state.status === 'PENDING_REDRIVE')) return undefined;
      return `its execution ${job.executionName} is ${state ? state.status : 'unknown to Step Functions'}`;
    },
    endDeadJobs: async (jobIds, now) => {
      const dead = (await Promise.all(jobIds.map((id) => ports.jobs.get(id)))).filter((j) => j !== undefined);
      const report = await sweepJobs({ jobs: ports.jobs, catalog: ports.catalog, media: ports.media, emm: ports.emm, ...ports.executions }, dead, now, Math.max(1, dead.length));
      return {
        ended: report.ended.flatMap((a) => (a.jobId !== undefined && a.action === 'ended' ? [{ jobId: a.jobId, statusCode: a.statusCode ?? 0, reason: a.reason ?? '' }] : [])),
        problems: report.problems,
      };
    },
    spared: () => holdersOfUnloads(ports.emm),
  };
}
