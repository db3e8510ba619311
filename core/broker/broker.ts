import type { BackupTask } from '../model/task.ts';
import type { BackupCommand, DeleteSnapshotCommand, SnapshotCommand } from '../model/agent-command.ts';
import type { Policy } from '../model/policy.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { BackupJob } from '../model/job.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { RequestedResource, ResourceKind } from '../model/resource-request.ts';
import { getJobOfKind, updateJobOfKind } from '../jobs/job-of-kind.ts';
import { primaryCopy } from '../model/image.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { makeBackupId } from '../ids.ts';
import { resourceRetrySeconds, waitingSince } from './resource-retry.ts';
import { loadSettings } from '../settings.ts';
import { jobAgentInstance } from './tape-agent.ts';
import { planTapeResources, spanWaitSeconds, tapeGrant, tapeResources, type TapeGrant } from './tape-choice.ts';
import { recordTapeRelease } from './tape-release.ts';
import type { JobOutcome } from '../jobs/job-service.ts';
import { clientJobLimitWait } from './client-job-limit.ts';
import { chooseBaseImage } from './base-choice.ts';
import { JOB_DETAILS_LIMIT } from '../model/job.ts';
import { withDrive } from '../jobs/job-drives.ts';

export interface BrokerDeps {
  config: ConfigStore;
  jobs: JobStore;
  media: MediaStore;
  catalog: CatalogStore;
  /**
   * Where agents run. `managed-instances` (the cloud runtime, lambdas/broker.ts):
   * each client's SSM managed instance (core/clients/agent-instance.ts; for a
   * tape unit, that of its robot's client: tape-agent.ts), and a client with
   * none fails with status 48 before anything is sent. `in-process`
   * (the default; the standalone runtime): the agent runs in this process and
   * the instance is IN_PROCESS_AGENT.
   */
  agents?: 'managed-instances' | 'in-process';
  /**
   * The media manager (EMM): needed for tape storage units, whose jobs get a
   * drive and a volume chosen from it. Without it a tape unit's job fails
   * with 174 before anything is reserved.
   */
  emm?: MediaDatabase;
}

/** The standalone runtime's agent: the one in its own process (never an SSM target). */
export const IN_PROCESS_AGENT = 'local';

export type ReserveDecision =
  /**
   * Granted: the command the Stream state sends the agent (`$.reservation.command`), and where to. A policy
   * with a snapshot method adds the Snapshot step's command and the DeleteSnapshot step's (`snapshotCommands`).
   */
  | ({ granted: true; command: BackupCommand; agentInstanceId: string; tape?: Omit<TapeGrant, 'target'> } & Partial<SnapshotGrant>)
  | { granted: false; reason: string; retryAfterSeconds: number };

/**
 * The resource broker (nbrb): reserves what a queued job needs in one atomic
 * step. Granted, the job turns ACTIVE with its backup id and the agent task is
 * returned; refused, the job stays QUEUED and shows why it waits.
 * Safe to call again for a job already granted (a retried workflow step).
 */
export async function reserveResources(deps: BrokerDeps, jobId: number, now: Date): Promise<ReserveDecision> {
  // Only backups are queued today; the other kinds bring their own requests (a restore: a drive and its volumes).
  const job = await getJobOfKind(deps.jobs, jobId, 'backup');
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before it was granted resources`);
  const unit = await deps.config.getStorageUnit(job.storageUnit);
  if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${job.storageUnit} does not exist`);
  const settings = await loadSettings(deps.config);
  const windowEnd = job.windowEnd ? new Date(job.windowEnd) : undefined;
  if (job.state === 'QUEUED' && windowEnd && now >= windowEnd) {
    // A job that waited for a drive or a volume did not get media: NetBackup's 96, not 196.
    const forMedia = job.waitingReason?.startsWith(`waiting for ${WAITING_FOR.drive}:`) || job.waitingReason?.startsWith(`waiting for ${WAITING_FOR.volume}:`);
    throw new CairnError(forMedia ? StatusCode.UNABLE_TO_ALLOCATE_MEDIA : StatusCode.BACKUP_WINDOW_CLOSED, `job ${jobId} was still queued when its window closed at ${job.windowEnd}${job.waitingReason ? ` (${job.waitingReason})` : ''}`);
  }

  // Before anything is reserved or claimed: a client no agent serves fails (48) holding nothing; a tape unit's
  // job runs on the agent of its robot's client (tape-agent.ts).
  const policy = job.policy ? await deps.config.getPolicy(job.policy) : undefined;
  const agentInstanceId = deps.agents === 'managed-instances' ? await jobAgentInstance(deps, job, policy, unit) : IN_PROCESS_AGENT;

  const wait = async (kind: ResourceKind | 'client-job', why: string): Promise<ReserveDecision> => {
    const reason = `waiting for ${WAITING_FOR[kind]}: ${why}`;
    await deps.jobs.update(jobId, (j) => ({ ...j, waitingReason: reason, updatedAt: now.toISOString() }), { expectedStates: ['QUEUED'] });
    // Wake up when the window closes at the latest, so the job ends 196 on time; otherwise back off (resource-retry.ts says why).
    const untilClose = windowEnd ? Math.max(1, Math.ceil((windowEnd.getTime() - now.getTime()) / 1000)) : Infinity;
    const waited = (now.getTime() - waitingSince(job).getTime()) / 1000;
    return { granted: false, reason, retryAfterSeconds: Math.min(resourceRetrySeconds(settings.resourceRetrySeconds, waited), untilClose) };
  };

  // Maximum jobs per client: before anything is chosen or reserved (client-job-limit.ts).
  const clientBusy = await clientJobLimitWait(deps.jobs, job, settings);
  if (clientBusy) return wait('client-job', clientBusy);

  // A tape unit: choose a drive and a volume first, then reserve them with the slot in one step. A lost race
  // (another job took them in between) is refused by the store and chosen again at the next try.
  let tape: TapeGrant | undefined;
  let resources = backupResources(unit);
  let fromScratch: { mediaId: string; pool: string } | undefined;
  if (unit.kind === 'tape') {
    if (!deps.emm) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `storage unit ${unit.name} is a tape unit, and this broker has no media manager to choose its drive and volume`);
    const planned = await planTapeResources(deps.emm, await deps.media.listReservations(), unit, job);
    if (!planned.chosen) return wait(planned.waitingFor, planned.reason);
    resources = tapeResources(unit, planned.plan);
    tape = tapeGrant(jobId, unit, planned.plan, spanWaitSeconds(settings));
    if (planned.plan.fromScratch) fromScratch = { mediaId: planned.plan.media.mediaId, pool: unit.pool };
  }

  const result = await deps.media.reserve({ jobId, resources, at: now });
  if (!result.granted) return wait(result.refused.kind, result.reason);
  // Granted: a scratch volume is the pool's from now on (label refuses a volume holding images; a retried step finds it moved).
  if (fromScratch && deps.emm) {
    const media = await deps.emm.getMedia(fromScratch.mediaId);
    if (media && media.pool !== fromScratch.pool) await deps.emm.label(fromScratch.mediaId, fromScratch.pool);
  }

  const started = job.state === 'ACTIVE' && job.backupId ? { active: job, backupId: job.backupId } : await claimAndStart(deps, job, unit.name, now);
  if (!('active' in started)) {
    const reason = `waiting for a backup id: ${started.taken} is taken by another job; trying the next second`;
    await updateJobOfKind(deps.jobs, jobId, 'backup', (j) => ({ ...j, backupId: undefined, waitingReason: reason, updatedAt: now.toISOString() }), { expectedStates: ['QUEUED'] });
    return { granted: false, reason, retryAfterSeconds: 1 };
  }
  const { active, backupId } = started;
  const { level, base, why } = await chooseBase(deps, active, now);
  if (level !== active.level || base?.backupId !== active.baseBackupId) {
    // The job says why it is not the incremental it was queued as, or what it is taken against.
    const detail = { at: now.toISOString(), message: why };
    await updateJobOfKind(deps.jobs, jobId, 'backup', (j) => ({ ...j, level, baseBackupId: base?.backupId, details: [...(j.details ?? []), detail].slice(-JOB_DETAILS_LIMIT) }));
  }
  // A tape job lists every volume it is given (spanning adds the next ones: next-volume.ts) and the drive it
  // writes them in (spanning keeps the drive; a retry may be given another).
  const mediaId = tape?.target.volume.mediaId;
  const driveName = tape?.target.drive.name;
  if (mediaId !== undefined && driveName !== undefined && (active.volumes?.at(-1) !== mediaId || !active.drives?.includes(driveName))) {
    await updateJobOfKind(deps.jobs, jobId, 'backup', (j) => ({ ...j, volumes: j.volumes?.at(-1) === mediaId ? j.volumes : [...(j.volumes ?? []), mediaId], drives: withDrive(j.drives, driveName) }));
  }
  return {
    granted: true,
    agentInstanceId,
    command: {
      kind: 'backup',
      task: {
        jobId,
        backupId,
        client: job.client,
        policy: job.policy,
        schedule: job.schedule,
        level,
        selections: job.selections,
        exclude: job.exclude,
        ...(job.crossMountPoints ? { crossMountPoints: true } : {}),
        ...(job.backupMethod === 'offhost' ? { backupMethod: 'offhost' as const } : {}),
        storageUnit: unit,
        buffers: settings.buffers,
        ...(base ? { base } : {}),
        ...(tape ? { tape: tape.target } : {}),
      },
    },
    ...(tape ? { tape: { mount: tape.mount, afterSuccess: tape.afterSuccess, afterFailure: tape.afterFailure } } : {}),
    ...snapshotCommands(policy, jobId, job.selections),
  };
}

/** A grant's frozen-image commands: what the Snapshot step sends (`$.reservation.snapshot`) and the DeleteSnapshot step (`$.reservation.deleteSnapshot`). */
export interface SnapshotGrant {
  snapshot: SnapshotCommand;
  deleteSnapshot: DeleteSnapshotCommand;
}

/**
 * The Snapshot and DeleteSnapshot commands of a job whose policy asks for a
 * frozen image; none for `snapshot: none` and for a manual backup without a
 * policy (the workflow then skips both steps).
 */
export function snapshotCommands(policy: Pick<Policy, 'snapshot' | 'snapshotRequired' | 'lvmSnapshotSize'> | undefined, jobId: number, selections: readonly string[]): SnapshotGrant | Record<string, never> {
  if (policy === undefined || policy.snapshot === 'none') return {};
  return {
    snapshot: {
      kind: 'snapshot',
      task: { jobId, selections: [...selections], choice: policy.snapshot, required: policy.snapshotRequired, ...(policy.lvmSnapshotSize === undefined ? {} : { lvmSnapshotSize: policy.lvmSnapshotSize }) },
    },
    deleteSnapshot: { kind: 'delete-snapshot', task: { jobId, images: [] } },
  };
}

/** How a queued job's waiting reason names the resource it waits for, as NetBackup's Activity Monitor does. */
const WAITING_FOR: Record<ResourceKind | 'client-job', string> = { 'storage-unit-slot': 'storage unit slot', drive: 'drive', volume: 'volume', 'client-job': 'a client job slot' };

/**
 * What a backup needs, reserved in one transaction: a slot of its storage
 * unit (Maximum Concurrent Jobs). A tape unit adds the drive and the volume
 * the broker chose (tape-choice.ts).
 */
export function backupResources(unit: StorageUnit): RequestedResource[] {
  return [{ kind: 'storage-unit-slot', storageUnit: unit.name, maxConcurrentJobs: unit.maxConcurrentJobs }];
}

/**
 * The base of an incremental (base-choice.ts: the last backup of the same
 * client, policy and selections), with the copy changes are detected
 * against. No full to build on, or a base whose storage unit is gone: the
 * job runs as a full, as NetBackup does.
 */
async function chooseBase(deps: BrokerDeps, job: BackupJob, now: Date): Promise<{ level: BackupJob['level']; base?: BackupTask['base']; why: string }> {
  if (job.level === 'full') return { level: 'full', why: 'a full backup' };
  const decision = chooseBaseImage(await deps.catalog.listImages({ client: job.client, policy: job.policy, to: now }), job);
  if (!decision.base) return { level: 'full', why: decision.why };
  // Changes are detected against the base's primary copy: the one a restore of it reads.
  const copy = primaryCopy(decision.base);
  const unit = await deps.config.getStorageUnit(copy.storageUnit);
  if (!unit) return { level: 'full', why: `runs as a full: storage unit ${copy.storageUnit} of the base ${decision.base.backupId} no longer exists` };
  return { level: decision.level, base: { backupId: decision.base.backupId, indexKey: copy.indexKey, indexSha256: copy.indexSha256, storageUnit: unit }, why: decision.why };
}

/**
 * Gives a QUEUED job its backup id and turns it ACTIVE, or says which id was
 * taken.
 *
 * Backup ids have one-second resolution, as in NetBackup, and are never
 * ahead of the clock: the id is `<client>_<now>`, claimed atomically in the
 * catalog before any byte is written. A job that loses the claim to another
 * job of its client in the same second waits for the next second and tries
 * again (the workflow's Wait), so two jobs never share an id or an image
 * location and an id never names a second after its job started.
 *
 * The job names the id before claiming it, so a claim whose job does not
 * name it is never one that is about to be used (the janitor relies on it).
 * A job that already holds a claim (a retried step) keeps it.
 */
async function claimAndStart(deps: BrokerDeps, job: BackupJob, storageUnit: string, now: Date): Promise<{ active: BackupJob; backupId: string } | { taken: string }> {
  const backupId = job.backupId ?? makeBackupId(job.client, now);
  if (job.backupId !== backupId) {
    await deps.jobs.update(job.jobId, (j) => ({ ...j, backupId, updatedAt: now.toISOString() }), { expectedStates: ['QUEUED'] });
  }
  const claimed = await deps.catalog.claimBackupId({ backupId, jobId: job.jobId, client: job.client, storageUnit, claimedAt: now.toISOString() });
  if (!claimed) return { taken: backupId };
  const active = await updateJobOfKind(
    deps.jobs,
    job.jobId,
    'backup',
    (j) => ({ ...j, state: 'ACTIVE', backupId, waitingReason: undefined, startedAt: now.toISOString(), updatedAt: now.toISOString() }),
    { expectedStates: ['QUEUED'] },
  );
  return { active, backupId };
}

/**
 * Gives back everything the job holds. Runs on every path out of a job;
 * idempotent. A tape job's drive and volume are first recorded in the media
 * manager as the Unmount step left them (tape-release.ts), given the job's
 * `outcome` (what the workflow ends the job with).
 */
export async function releaseResources(
  deps: Pick<BrokerDeps, 'media'> & Partial<Pick<BrokerDeps, 'emm' | 'config' | 'jobs'>>,
  jobId: number,
  tape: { now?: Date; outcome?: JobOutcome } = {},
): Promise<{ released: boolean }> {
  if (deps.emm && deps.config && tape.now) await recordTapeRelease({ media: deps.media, emm: deps.emm, config: deps.config, ...(deps.jobs ? { jobs: deps.jobs } : {}) }, jobId, tape.now, tape.outcome);
  return { released: await deps.media.release(jobId) };
}
