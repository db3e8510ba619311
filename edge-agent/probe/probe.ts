import { readFile } from 'node:fs/promises';
import { ALL_LOCAL_FILE_SYSTEMS } from '#core/model/selection.ts';
import { CairnError, messageOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseMountInfo } from './mountinfo.ts';
import { localFileSystems, type LocalFileSystem, type SkippedMount } from './local-file-systems.ts';

/** What the probe found: the local file systems `ALL` stands for, and every other mount with why it is left out. */
export interface ProbeResult {
  fileSystems: LocalFileSystem[];
  skipped: SkippedMount[];
  /** Set when `skipped` lists only the first of the mounts left out: how many there were. */
  skippedTotal?: number;
}

/** Where the agent reads its mount table: its own mount namespace's, as the reader sees the files. */
export const MOUNTINFO = '/proc/self/mountinfo';

/**
 * The savefs probe: the local file systems of this host, from its mount
 * table. A table that cannot be read fails (status 2000): `ALL` never
 * silently expands to nothing.
 */
export async function probeLocalFileSystems(mountinfo: string = MOUNTINFO): Promise<ProbeResult> {
  let text: string;
  try {
    text = await readFile(mountinfo, 'utf8');
  } catch (error) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `the mount table ${mountinfo} could not be read: ${messageOf(error)}`, { cause: error });
  }
  const { kept, skipped } = localFileSystems(parseMountInfo(text));
  return { fileSystems: kept, skipped };
}

/**
 * The selections with `ALL` replaced by the mount point of every local file
 * system (after the selections given before it, each once). Selections
 * without `ALL` are returned as they are and nothing is read.
 */
export async function expandAllSelection(selections: readonly string[], probe: () => Promise<ProbeResult> = () => probeLocalFileSystems()): Promise<string[]> {
  if (!selections.includes(ALL_LOCAL_FILE_SYSTEMS)) return [...selections];
  const mountPoints = (await probe()).fileSystems.map((fs) => fs.mountPoint);
  const expanded = selections.flatMap((s) => (s === ALL_LOCAL_FILE_SYSTEMS ? mountPoints : [s]));
  return [...new Set(expanded)];
}
