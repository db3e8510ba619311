import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * When the process started, in clock ticks since boot (field 22 of
 * /proc/PID/stat), or undefined where there is no /proc. A pid alone is
 * not an identity: after a reboot another program may have it, and a job
 * owned by "that pid" would look alive forever.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

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
