import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Who made a frozen image: a process on this host, named by its pid and its
 * start time (field 22 of /proc/PID/stat, clock ticks since boot). A pid
 * alone is no identity: after the owner died, or after a reboot, another
 * program may get the same pid, and its image would look owned forever.
 */
export const ProcessIdentity = z.object({ pid: z.number().int().positive(), startTime: z.string().regex(/^\d+$/) }).strict();
export type ProcessIdentity = z.output<typeof ProcessIdentity>;

/** Field 22 of /proc/PID/stat, or undefined when the process does not exist (or there is no /proc). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This process's identity. Status 2000-free by design: on a host without /proc the start time is `0`, and liveness falls back to the pid. */
export function currentProcess(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? '0' };
}

/** Whether the process that `identity` names still runs: the pid exists and started when the identity says. */
export function isProcessAlive(identity: ProcessIdentity): boolean {
  const started = processStartTime(identity.pid);
  if (started !== undefined) return started === identity.startTime;
  // No /proc entry: gone (or a host without /proc, where only the pid can be asked).
  if (identity.startTime !== '0') return false;
  try {
    process.kill(identity.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
