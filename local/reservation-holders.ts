import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReservationHolder } from '#agent/duplicate/duplicate-image.ts';
import { ensurePrivateDirectory, PRIVATE_FILE_MODE } from './private-files.ts';
import { isOrphanOwner } from './orphans.ts';
import type { LocalRuntime } from './runtime.ts';

/** Where holders are registered, under the runtime's home. */
const HOLDERS = 'holders';

/**
 * Holders of reservations that are not jobs: a `cairn duplicate` to or from
 * tape (or the tick's) holds its drive and volumes under an id from the
 * job counter that no job record has. The janitor releases the
 * reservations of such ids at once (`releaseStranded`: a DONE or missing
 * job's), which would take the drive from under a copy that runs for
 * minutes in another process. So the holder is registered here,
 * `holders/<id>` naming its process (`local:<host>:<pid>:<start>`), and the
 * standalone janitor spares it while that process lives; once the process
 * is gone (killed mid-copy), the janitor unloads the drive it held, releases
 * its reservations and removes the registration (local/janitor.ts).
 *
 * A duplicate that becomes a job of its own will hold them under its job
 * id instead (DuplicateRequest.jobId), and needs none of this.
 */
export async function takeHolder(runtime: Pick<LocalRuntime, 'home' | 'owner' | 'jobs'>): Promise<ReservationHolder> {
  const dir = join(runtime.home, HOLDERS);
  ensurePrivateDirectory(dir);
  const jobId = await runtime.jobs.nextJobId();
  const file = join(dir, String(jobId));
  writeFileSync(file, `${runtime.owner}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  return { jobId, end: async () => rmSync(file, { force: true }) };
}

/** The registered holders: those whose process lives (spared), and those whose process is gone (to clean up). */
export function registeredHolders(runtime: Pick<LocalRuntime, 'home' | 'owner'>): { live: Set<number>; dead: number[] } {
  const dir = join(runtime.home, HOLDERS);
  const live = new Set<number>();
  const dead: number[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { live, dead };
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let owner: string;
    try {
      owner = readFileSync(join(dir, name), 'utf8').trim();
    } catch {
      continue; // ended meanwhile
    }
    if (isOrphanOwner(owner, runtime.owner)) dead.push(Number(name));
    else live.add(Number(name));
  }
  return { live, dead };
}

/** Removes a dead holder's registration once its reservations are gone. */
export function forgetHolder(runtime: Pick<LocalRuntime, 'home'>, jobId: number): void {
  rmSync(join(runtime.home, HOLDERS, String(jobId)), { force: true });
}
