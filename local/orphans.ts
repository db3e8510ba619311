import { hostname } from 'node:os';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A job is orphaned when the local process that ran it is gone: in-process
 * executions die with their process. Jobs of another host, or of the cloud
 * runtime, are never taken for orphans here.
 */
export function isOrphanOwner(owner: string | undefined, selfOwner: string): boolean {
  if (!owner) return true;
  if (owner === selfOwner) return false;
  const match = /^local:(.+):(\d+)$/.exec(owner);
  if (!match) return false;
  return match[1] === hostname() && !processAlive(Number(match[2]));
}
