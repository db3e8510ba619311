import { readPathOf, type FrozenImage, type SnapshotFallback, type SnapshotMethod } from '../model/snapshot.ts';

/**
 * The pure decisions of a job's frozen images: which volumes to freeze for
 * which selections, where each selection then reads, and whether a leftover
 * image may be removed. The agent (edge-agent/snapshot/job-snapshots.ts)
 * probes, creates and deletes; these only decide.
 */

/** What probing a selection said: the method and volume root that would freeze it, or why none can. */
export type SelectionChoice = { method: SnapshotMethod; sourceRoot: string } | { method: 'none'; reason: string };

/** One image to make: a volume and the selections that live on it. */
export interface VolumeToFreeze {
  method: SnapshotMethod;
  sourceRoot: string;
  selections: string[];
}

/**
 * Groups the selections by the volume that freezes them (several selections
 * on one volume share one image), in the order of first appearance; the
 * selections no method can freeze are read live, each with its reason.
 */
export function planSnapshots(choices: ReadonlyArray<{ selection: string; choice: SelectionChoice }>): { volumes: VolumeToFreeze[]; fellBack: SnapshotFallback[] } {
  const volumes = new Map<string, VolumeToFreeze>();
  const fellBack: SnapshotFallback[] = [];
  for (const { selection, choice } of choices) {
    if (choice.method === 'none') {
      fellBack.push({ selection, reason: choice.reason });
      continue;
    }
    const key = `${choice.method}\u0000${choice.sourceRoot}`;
    const volume = volumes.get(key) ?? { method: choice.method, sourceRoot: choice.sourceRoot, selections: [] };
    if (!volume.selections.includes(selection)) volume.selections.push(selection);
    volumes.set(key, volume);
  }
  return { volumes: [...volumes.values()], fellBack };
}

/** The message of a required snapshot that cannot be taken (status 156): every selection and why. */
export function requiredSnapshotMessage(fellBack: readonly SnapshotFallback[]): string {
  return `a snapshot is required and cannot be taken: ${fellBack.map((f) => `${f.selection}: ${f.reason}`).join('; ')}`;
}

/** The job-detail line of a selection read live although a snapshot was asked for. */
export function fallbackDetail(fallback: SnapshotFallback): string {
  return `snapshot not taken of ${fallback.selection}, read live instead: ${fallback.reason}`;
}

/**
 * Where each selection is read when images cover it (`readPathOf`), for the
 * selections that are not read where they are; the image records the
 * selection's own names either way.
 */
export function selectionSources(selections: readonly string[], images: readonly FrozenImage[]): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const selection of selections) {
    const read = readPathOf(selection, images);
    if (read !== selection) sources[selection] = read;
  }
  return sources;
}

/**
 * Whether a leftover image may be removed at the agent's start:
 * - its owner process still runs: kept (a job between two steps, or one reading it);
 * - a job store says the job is still active: kept (the owner died, and the
 *   janitor has not ended the job yet: the next start removes it);
 * - a job store says the job is no longer active: removed;
 * - no job store (the cloud agent): removed once `heldUntil` is past (no
 *   later command of the job took the image over in time).
 */
export function leftoverVerdict(record: { jobId: number; heldUntil: string }, facts: { ownerAlive: boolean; jobActive: boolean | undefined; now: Date }): { remove: boolean; why: string } {
  if (facts.ownerAlive) return { remove: false, why: 'its owner process is running' };
  if (facts.jobActive === true) return { remove: false, why: `its owner is gone and job ${record.jobId} is still active` };
  if (facts.jobActive === false) return { remove: true, why: `its owner is gone and job ${record.jobId} is no longer active` };
  if (facts.now.getTime() >= Date.parse(record.heldUntil)) return { remove: true, why: `its owner is gone and no command of job ${record.jobId} took it over by ${record.heldUntil}` };
  return { remove: false, why: `its owner is gone; kept until ${record.heldUntil} for the next command of job ${record.jobId}` };
}
