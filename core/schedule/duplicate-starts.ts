import type { Image } from '../model/image.ts';
import type { Job } from '../model/job.ts';
import type { Policy } from '../model/policy.ts';
import type { ExecutionStarter } from '../ports/execution-starter.ts';
import type { ExecutionStatuses } from '../ports/execution-status.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import { messageOf } from '../errors.ts';
import { dueDuplicates, type DueDuplicate } from './duplicate-due.ts';

/** Copies a cloud tick starts at most: a backlog is worked off over several ticks (as the standalone tick's DEFAULT_DUPLICATES_PER_TICK). */
export const DEFAULT_DUPLICATE_STARTS_PER_TICK = 4;
/** Names tried past the first for one copy in one tick, when earlier attempts' jobs have left the recent jobs read. */
const NAME_PROBES = 8;

/** The copies a tick started (execution names), those running already, those left for later ticks, and what could not be started. */
export interface DuplicatesReport {
  started: string[];
  alreadyStarted: string[];
  /** `image to unit`: another copy of the same image is running (its copy number would clash); started at a later tick. */
  waiting: string[];
  /** Due copies left for later ticks (the per-tick bound). */
  deferred: number;
  /** `image to unit: why`: copies this workflow cannot make (a tape source or target), never started. */
  skipped: string[];
  problems: string[];
}

const EXECUTION_NAME = /^[A-Za-z0-9._-]+$/;

/** What starting the due copies needs: the starter and the jobs; with `units` tape copies are skipped, with `executions` a refused start is retried. */
export interface DuplicateStartDeps {
  starter: ExecutionStarter;
  jobs: Pick<JobStore, 'findByExecution'>;
  /** The storage units: a copy from or to a tape unit is skipped (the workflow reserves no drive), not started to be refused. */
  units?: Pick<ConfigStore, 'getStorageUnit'>;
  /** The duplicate-job executions: a used name whose execution has closed without a job (Queue refused it) moves on to the next attempt. */
  executions?: ExecutionStatuses;
}

/**
 * The execution name of a policy copy's `attempt`th duplicate job: one name
 * per (image, unit, attempt), so two ticks start one execution; a new
 * attempt after a failed one needs a new name, as Step Functions refuses a
 * name used in the last 90 days. Kept to 80 of [A-Za-z0-9._-], hashed when
 * longer, the attempt last.
 */
export function duplicateExecutionName(backupId: string, storageUnit: string, attempt: number): string {
  const name = `dup.${backupId}.${storageUnit}`;
  const tail = `.${attempt}`;
  if (EXECUTION_NAME.test(name) && name.length + tail.length <= 80) return `${name}${tail}`;
  let hash = 0x811c9dc5;
  for (const ch of name) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80 - 9 - tail.length)}-${hash.toString(16).padStart(8, '0')}${tail}`;
}

/**
 * The cloud scheduler's policy copies: the due copies (core/schedule/duplicate-due.ts)
 * started as executions of the duplicate-job state machine, at most `max`
 * per tick, oldest image first. One copy of an image at a time: a copy
 * whose image has a duplicate job QUEUED or ACTIVE among `jobs` (or
 * another copy started this tick) waits, since both would be written as
 * the image's next copy number.
 *
 * The name's attempt is one more than the ended duplicate jobs of that copy
 * among `jobs`, so a failed copy is started again at the next tick under a
 * new name. When that name was used already (the earlier jobs have left the
 * recent jobs read) and its job has ended, the next attempt is tried, up to
 * NAME_PROBES more; a name whose job is running counts as started, and one
 * that queued no job too unless `deps.executions` says its execution has
 * closed (Queue refused it: a store failure, say), when the next name is
 * tried. With `deps.units`, a copy from or to a tape unit is skipped
 * (reported, not started): the workflow would refuse it. Failures to start are reported,
 * not thrown: the next tick tries again.
 */
export async function startDueDuplicates(
  deps: DuplicateStartDeps,
  input: { policies: readonly Policy[]; images: readonly Image[]; jobs: readonly Job[]; now: Date },
  max = DEFAULT_DUPLICATE_STARTS_PER_TICK,
): Promise<DuplicatesReport> {
  const report: DuplicatesReport = { started: [], alreadyStarted: [], waiting: [], deferred: 0, skipped: [], problems: [] };
  const primaries = new Map(input.images.map((image) => [image.backupId, image.copies[0]?.storageUnit] as const));
  const duplicates = input.jobs.filter((j) => j.type === 'duplicate');
  const busy = new Set(duplicates.filter((j) => j.state !== 'DONE').map((j) => j.image));
  let tried = 0;
  for (const due of dueDuplicates(input)) {
    if (busy.has(due.backupId)) {
      report.waiting.push(`${due.backupId} to ${due.storageUnit}`);
      continue;
    }
    if (tried >= max) {
      report.deferred += 1;
      continue;
    }
    const ended = duplicates.filter((j) => j.state === 'DONE' && j.image === due.backupId && j.storageUnit === due.storageUnit).length;
    try {
      const tape = await tapeUnitOf(deps, [primaries.get(due.backupId), due.storageUnit]);
      if (tape !== undefined) {
        report.skipped.push(`${due.backupId} to ${due.storageUnit}: storage unit ${tape} is a tape unit (the cloud duplicate job does not reserve drives yet)`);
        continue;
      }
      tried += 1;
      busy.add(due.backupId);
      await startOne(deps, due, ended + 1, report);
    } catch (error) {
      report.problems.push(`copy of ${due.backupId} to ${due.storageUnit}: ${messageOf(error)}`);
    }
  }
  return report;
}

/** The first of `names` that is a tape unit, when the units are known. */
async function tapeUnitOf(deps: DuplicateStartDeps, names: readonly (string | undefined)[]): Promise<string | undefined> {
  if (deps.units === undefined) return undefined;
  for (const name of names) {
    if (name !== undefined && (await deps.units.getStorageUnit(name))?.kind === 'tape') return name;
  }
  return undefined;
}

/** Step Functions statuses of an execution that may still queue its job. */
const OPEN = new Set(['RUNNING', 'PENDING_REDRIVE']);

async function startOne(deps: DuplicateStartDeps, due: DueDuplicate, firstAttempt: number, report: DuplicatesReport): Promise<void> {
  for (let attempt = firstAttempt; attempt <= firstAttempt + NAME_PROBES; attempt++) {
    const name = duplicateExecutionName(due.backupId, due.storageUnit, attempt);
    const request = { backupId: due.backupId, to: due.storageUnit, expiresAt: due.expiresAt, policy: due.policy, executionName: name };
    if ((await deps.starter.start(name, { request })) === 'started') {
      report.started.push(name);
      return;
    }
    // The name was used: by a run of this copy still going, by one Queue refused (no job), or by an attempt that has ended.
    const job = await deps.jobs.findByExecution(name);
    if (job !== undefined && job.state !== 'DONE') {
      report.alreadyStarted.push(name);
      return;
    }
    if (job === undefined) {
      // No job: still before its Queue, or refused there. Known closed, the next name is tried; unknown, it counts as started.
      const state = await deps.executions?.describe(name);
      if (state === undefined || OPEN.has(state.status)) {
        report.alreadyStarted.push(name);
        return;
      }
    }
  }
  report.problems.push(`copy of ${due.backupId} to ${due.storageUnit}: attempts ${firstAttempt} to ${firstAttempt + NAME_PROBES} have all ended (their jobs say why); not started`);
}
