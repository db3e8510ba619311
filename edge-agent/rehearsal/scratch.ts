import { chmod, lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/*
 * A rehearsal's scratch directory: `<scratch>/cairn-rehearsal-<jobId>-<pid>-<random>`,
 * made fresh (mkdtemp, owner-only) and always removed afterwards. The pid
 * in the name is what lets the next rehearsal on the host clean up after
 * an agent that was killed mid-rehearsal: a directory whose process no
 * longer exists is nobody's (sweepStaleScratch).
 */

const PREFIX = 'cairn-rehearsal-';
const NAME = /^cairn-rehearsal-(\d+)-(\d+)-[A-Za-z0-9]+$/;

/** Makes `<base>/cairn-rehearsal-<jobId>-<pid>-XXXXXX`; `base` is created if missing (owner-only). 174 when it cannot be. */
export async function makeScratch(base: string, jobId: number): Promise<string> {
  try {
    await mkdir(base, { recursive: true, mode: 0o700 });
    return await mkdtemp(join(base, `${PREFIX}${jobId}-${process.pid}-`));
  } catch (error) {
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `the rehearsal's scratch directory cannot be made under ${base}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * Removes a scratch directory and everything in it. A restored directory
 * without write permission (its mode came from the image) is opened up
 * first when a plain removal fails. Returns why it could not, or undefined.
 */
export async function removeScratch(dir: string): Promise<string | undefined> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch {
    try {
      await openUp(dir);
      await rm(dir, { recursive: true, force: true });
    } catch (error) {
      return messageOf(error);
    }
  }
  try {
    await lstat(dir);
    return `${dir} still exists after its removal`;
  } catch {
    return undefined;
  }
}

/**
 * Removes the scratch directories under `base` left by rehearsals whose
 * process is gone (an agent killed mid-rehearsal, a host that rebooted):
 * those named by a pid that is not this process and not alive. Returns the
 * directories removed and those that could not be.
 */
export async function sweepStaleScratch(base: string): Promise<{ removed: string[]; problems: string[] }> {
  const removed: string[] = [];
  const problems: string[] = [];
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return { removed, problems };
  }
  for (const name of names) {
    const match = NAME.exec(name);
    if (!match) continue;
    const pid = Number(match[2]);
    if (pid === process.pid || alive(pid)) continue;
    const dir = join(base, name);
    const problem = await removeScratch(dir);
    if (problem === undefined) removed.push(dir);
    else problems.push(`${dir}: ${problem}`);
  }
  return { removed, problems };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function openUp(dir: string): Promise<void> {
  const stat = await lstat(dir);
  if (!stat.isDirectory()) return;
  await chmod(dir, 0o700);
  for (const name of await readdir(dir)) await openUp(join(dir, name));
}
