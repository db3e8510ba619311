import { hostname } from 'node:os';
import { processStartTime } from '#agent/snapshot/process-identity.ts';

/** `local:<host>:<pid>[:<start time>]`: who runs a job in the standalone runtime. */
export function localOwner(pid = process.pid): string {
  const started = processStartTime(pid);
  return `local:${hostname()}:${pid}${started === undefined ? '' : `:${started}`}`;
}

function processAlive(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return startTime === undefined || processStartTime(pid) === startTime;
}

/**
 * A job is orphaned when the local process that ran it is gone: in-process
 * executions die with their process. Jobs of another host, or of the cloud
 * runtime, are never taken for orphans here.
 */
export function isOrphanOwner(owner: string | undefined, selfOwner: string): boolean {
  if (!owner) return true;
  if (owner === selfOwner) return false;
  const match = /^local:([^:]+):(\d+)(?::(\d+))?$/.exec(owner);
  if (!match) return false;
  return match[1] === hostname() && !processAlive(Number(match[2]), match[3]);
}
