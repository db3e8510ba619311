import { hostname } from 'node:os';
import { finishJob } from '#core/jobs/job-service.ts';
import { releaseResources } from '#core/broker/broker.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { LocalRuntime } from './runtime.ts';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A job is orphaned when the local process that ran it is gone. */
export function isOrphanOwner(owner: string | undefined, selfOwner: string): boolean {
  if (!owner) return true;
  if (owner === selfOwner) return false;
  const match = /^local:(.+):(\d+)$/.exec(owner);
  if (!match) return false;
  return match[1] === hostname() && !processAlive(Number(match[2]));
}

/**
 * In-process executions die with their process. On start, jobs left QUEUED or
 * ACTIVE by a dead process end with status 2002 and give back their resources,
 * so nothing stays ACTIVE forever and no slot leaks.
 */
export async function endOrphanedJobs(runtime: LocalRuntime): Promise<number[]> {
  const ended: number[] = [];
  for (const state of ['ACTIVE', 'QUEUED'] as const) {
    for (const job of await runtime.jobs.list({ state, limit: 10_000 })) {
      if (!isOrphanOwner(job.owner, runtime.owner)) continue;
      await releaseResources(runtime, job.jobId);
      await finishJob(runtime.jobs, job.jobId, { failure: { Error: `Status${StatusCode.JOB_ORPHANED}`, Cause: `the process that ran the job (${job.owner ?? 'unknown'}) stopped while the job was ${state}` } }, runtime.clock.now());
      ended.push(job.jobId);
    }
  }
  return ended;
}
