import type { ConfigStore } from '#core/ports/config-store.ts';
import type { JobStore } from '#core/ports/job-store.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { JobRef } from '#core/jobs/job-service.ts';
import type { BackupRun } from '#local/job-engine.ts';
import type { RestoreHooks, RestoreRun } from '#local/restore-engine.ts';
import type { RestoreRequest } from '#core/jobs/restore-job.ts';
import type { VerifyJobRef, VerifyRequest } from '#core/jobs/verify-job.ts';
import type { VerifyRun } from '#local/verify-engine.ts';
import type { Job } from '#core/model/job.ts';
import type { JobUsage } from '#core/model/job-usage.ts';
import type { DuplicateDeps } from '#agent/duplicate/duplicate-image.ts';

/**
 * What the CLI talks to: the standalone runtime on this machine, or a deployed
 * stack. On its own file so that backend.ts (which picks one) and
 * aws-backend.ts (which builds one) both import it without importing each other.
 */
export interface Backend {
  kind: 'local' | 'aws';
  config: ConfigStore;
  jobs: JobStore;
  catalog: CatalogStore;
  media: MediaStore;
  /** The media manager (EMM): robots, drives, volume pools and volumes (SQLite locally, the Media table on AWS). */
  emm: MediaDatabase;
  clock: Clock;
  /**
   * Who runs the jobs this process runs itself (duplicates, image cleanups,
   * catalog backups and checks): the standalone runtime's owner (its
   * janitor ends them when this process is gone), or `cli:<host>:<pid>` with --aws.
   */
  owner: string;
  /** A deployed stack's region (its list prices) and a job's measured usage there; absent for the standalone runtime, which has no cloud cost. */
  cloudCost?: { region: string; usage(job: Job): Promise<JobUsage> };
  /** Starts a backup job and resolves when it has ended. */
  runBackup(request: Record<string, unknown>, hooks: { onQueued?: (job: JobRef) => void }): Promise<BackupRun>;
  /** Runs a restore job of a tape image and resolves when it has ended; in-process locally, an execution of the restore-job state machine on AWS. */
  runRestore?(request: RestoreRequest, hooks: RestoreHooks): Promise<RestoreRun>;
  /** Runs a verify job of one image and resolves when it has ended; in-process locally, an execution of the verify-job state machine on AWS (verify-job.asl.json). */
  runVerify?(request: VerifyRequest, hooks: { onQueued?: (job: VerifyJobRef) => void }): Promise<VerifyRun>;
  /**
   * What `cairn duplicate` hands the duplicate (edge-agent/duplicate/): the
   * standalone runtime's reaches its tape units (drives reserved under a
   * holder its janitor spares: local/reservation-holders.ts); absent on
   * AWS, where the drives are on the robot's host and a copy to tape is
   * refused.
   */
  duplicateDeps?(options: { onWait?: (reason: string) => void }): Promise<DuplicateDeps>;
  close(): void;
}

/** The options every command takes: which backend, and how output is written. */
export interface GlobalOptions {
  home?: string;
  aws?: boolean;
  region?: string;
  profile?: string;
  endpoint?: string;
  stack?: string;
  json?: boolean;
}
