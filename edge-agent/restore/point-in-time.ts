import { primaryCopy, type Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { corruptImageError } from './image-trust.ts';
import { readIndex } from '../image/index-reader.ts';
import { ProblemList } from '../reader/problems.ts';
import { runPlans, type RestoreOptions, type RestoreResult } from './restore.ts';
import { planImage, type ExpectedContent, type ImagePlan } from './restore-plan.ts';
import { checkTarget } from './restore-target.ts';

export interface PointInTimeOptions extends Omit<RestoreOptions, 'store' | 'image'> {
  /** The image that shows the tree at the chosen time (see core imageAt): the catalog record. */
  image: Image;
  /** Opens the image a backup id names, with the store of its primary copy: the final image and those its unchanged files point at. */
  openImage: (backupId: string) => Promise<{ image: Image; store: ObjectStore }>;
  /** When the image was chosen within a policy: earlier images must be of that policy too. */
  policy?: string;
}

/**
 * Rebuilds a tree exactly as it was when `image` was taken: its index lists
 * every path present then, so deleted files stay deleted and a renamed file
 * appears once, under its new name. Unchanged files of an incremental come
 * from the earlier images their index lines name; those are restored first,
 * the final image last, so its directory modes and times win.
 *
 * The final image's index is the authority for the whole tree. An earlier
 * image is followed only when the catalog says it is of the same client
 * (and policy, when one was asked for) and older than the final image, and
 * each file taken from it must have the size and sha256 the final image's
 * index line gives. Every image is checked (manifest against the catalog,
 * index sha256, lines) before anything is written; failures follow
 * restoreImage's rules.
 */
export async function restorePointInTime(options: PointInTimeOptions): Promise<RestoreResult & { images: string[] }> {
  await checkTarget(options.targetDir);
  const final = await options.openImage(options.image.backupId);
  const failures = new ProblemList();
  const subject = `the point-in-time image chain of ${final.image.backupId}`;
  const unchanged = new Map<string, Map<string, ExpectedContent>>();
  const finalPlan = await planImage({
    store: final.store,
    image: final.image,
    selection: options.paths === undefined ? { kind: 'all' } : { kind: 'paths', paths: options.paths },
    failures,
    onUnchanged: (entry) => {
      let picks = unchanged.get(entry.fromBackupId);
      if (!picks) unchanged.set(entry.fromBackupId, (picks = new Map()));
      picks.set(entry.path, { sha256: entry.sha256, size: entry.size });
    },
  });

  const earlier: ImagePlan[] = [];
  for (const [backupId, picks] of unchanged) {
    const source = await openEarlier(options, final.image, backupId, picks.size, failures);
    if (!source) continue;
    earlier.push(await planImage({ store: source.store, image: source.image, selection: { kind: 'picks', picks, by: final.image.backupId }, failures }));
  }
  if (failures.count > 0 && !options.continueOnError) throw corruptImageError(subject, failures);
  // Oldest first, the final image last.
  earlier.sort((a, b) => Date.parse(a.image.createdAt) - Date.parse(b.image.createdAt));
  const plans = [...earlier, finalPlan];
  const result = await runPlans(plans, { ...options, failures, subject });
  return { ...result, images: plans.map((p) => p.image.backupId) };
}

/**
 * The catalog record and store of an image the final image's unchanged files
 * point at, when the chain may follow it; otherwise the refusal goes to
 * `failures` and the result is undefined.
 */
async function openEarlier(options: PointInTimeOptions, final: Image, backupId: string, files: number, failures: ProblemList): Promise<{ image: Image; store: ObjectStore } | undefined> {
  const holds = `image ${backupId}, which the index of ${final.backupId} names as holding ${files} unchanged file(s)`;
  let source: { image: Image; store: ObjectStore };
  try {
    source = await options.openImage(backupId);
  } catch (error) {
    if (!options.continueOnError) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `${holds}, cannot be opened: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    failures.addLine(`${holds}, cannot be opened: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  const refusal = chainRefusal(source.image, backupId, final, options.policy);
  if (refusal === undefined) return source;
  failures.addLine(`${holds}: ${refusal}; not followed`);
  return undefined;
}

/** Why a point-in-time chain must not take files from `candidate`, or undefined. */
export function chainRefusal(candidate: Image, backupId: string, final: Image, policy: string | undefined): string | undefined {
  if (candidate.backupId !== backupId) return `the catalog answered with image ${candidate.backupId}`;
  if (candidate.client !== final.client) return `it is an image of client ${candidate.client}, and a point-in-time chain follows images of client ${final.client} only`;
  if (policy !== undefined && candidate.policy !== policy) return `it is an image of policy ${candidate.policy}, not ${policy}`;
  if (!(Date.parse(candidate.createdAt) < Date.parse(final.createdAt))) return `it was taken at ${candidate.createdAt}, not before ${final.backupId} (${final.createdAt})`;
  return undefined;
}

/** The entries of an image's index at or directly under `path` (bplist): what was there at that time. `store` is the primary copy's storage unit. */
export async function listImagePath(store: ObjectStore, image: Image, path: string): Promise<IndexEntry[]> {
  const dir = path === '/' ? '/' : path.replace(/\/+$/, '');
  const out: IndexEntry[] = [];
  const copy = primaryCopy(image);
  for await (const entry of readIndex(store, copy.indexKey, copy.indexSha256)) {
    // A copy that changed while it was read and was read again: the path's next line is what the image holds.
    if (entry.changed === 'superseded') continue;
    const parent = entry.path.slice(0, Math.max(entry.path.lastIndexOf('/'), 1));
    if (entry.path === dir || parent === dir) out.push(entry);
  }
  return out;
}
