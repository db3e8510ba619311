import { primaryCopy, type Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { corruptImageError } from './image-trust.ts';
import { readIndex } from '../image/index-reader.ts';
import { ProblemList } from '../reader/problems.ts';
import { runPlans, type RestoreOptions, type RestoreResult } from './restore.ts';
import { planImage, type ExpectedContent, type ImagePlan } from './restore-plan.ts';
import { checkTarget } from './restore-target.ts';
import { isAtOrUnder, selectionRoot } from './safe-path.ts';

export interface PointInTimeOptions extends Omit<RestoreOptions, 'store' | 'image'> {
  /** The image that shows the tree at the chosen time (see core imageAt): the catalog record. */
  image: Image;
  /**
   * Opens the image a backup id names, with the store of its primary copy: the final image and those its unchanged files point at.
   * `fragmentSource`: where that copy's fragments are read when they are not objects in `store` (a copy on tape: its drive).
   */
  openImage: (backupId: string) => Promise<{ image: Image; store: ObjectStore; fragmentSource?: FragmentSource }>;
  /** When the image was chosen within a policy: earlier images must be of that policy too. */
  policy?: string;
  /**
   * The other streams' images of a multiple-data-streams view (core
   * imagesAt): each is the final image of its own stream's chain, restored
   * with `image` into the same target in one pass.
   */
  streamImages?: Image[];
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
 *
 * A multiple-data-streams policy's tree is several such trees, one per
 * stream (`streamImages`): each final image is the authority for its own
 * stream and brings its own earlier images; all of them are restored in
 * one pass into the one target.
 */
export async function restorePointInTime(options: PointInTimeOptions): Promise<RestoreResult & { images: string[] }> {
  await checkTarget(options.targetDir);
  const failures = new ProblemList();
  const finals = [options.image, ...(options.streamImages ?? [])];
  const subject = `the point-in-time image chain of ${finals.map((i) => i.backupId).join(', ')}`;
  const routed = routePaths(finals, options.paths);
  const earlier: ImagePlan[] = [];
  const finalPlans: ImagePlan[] = [];
  for (const [index, image] of finals.entries()) {
    const paths = routed[index];
    if (paths !== undefined && paths.length === 0) continue;
    const { plan, earlier: chain } = await planChain(options, image, paths, failures);
    finalPlans.push(plan);
    earlier.push(...chain);
  }
  if (failures.count > 0 && !options.continueOnError) throw corruptImageError(subject, failures);
  // Oldest first, the final images last (oldest first too), so each final image's directory modes and times win.
  const byTime = (a: ImagePlan, b: ImagePlan): number => Date.parse(a.image.createdAt) - Date.parse(b.image.createdAt);
  const plans = [...earlier.sort(byTime), ...finalPlans.sort(byTime)];
  const result = await runPlans(plans, { ...options, failures, subject });
  return { ...result, images: plans.map((p) => p.image.backupId) };
}

/** One final image's plan and the plans of the earlier images its unchanged files are taken from. */
async function planChain(options: PointInTimeOptions, image: Image, paths: readonly string[] | undefined, failures: ProblemList): Promise<{ plan: ImagePlan; earlier: ImagePlan[] }> {
  const final = await options.openImage(image.backupId);
  const unchanged = new Map<string, Map<string, ExpectedContent>>();
  const plan = await planImage({
    store: final.store,
    image: final.image,
    ...(final.fragmentSource ? { fragmentSource: final.fragmentSource } : {}),
    selection: paths === undefined ? { kind: 'all' } : { kind: 'paths', paths },
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
    earlier.push(await planImage({ store: source.store, image: source.image, ...(source.fragmentSource ? { fragmentSource: source.fragmentSource } : {}), selection: { kind: 'picks', picks, by: final.image.backupId }, failures }));
  }
  return { plan, earlier };
}

/**
 * The operator's paths each final image is asked for (undefined: the whole
 * image). With one image, all of them. With a stream's images, a path goes
 * to every image with a selection at or under it (`/` to all of them), else
 * to the image whose selection holds it most closely (`/home/a` to the
 * stream of `/home` rather than that of `/`, which holds only the mount
 * point), so that each image is asked only for paths it can hold; a path
 * no stream holds goes to the first image, which answers that it matches
 * nothing (227), as a restore of one image does.
 */
export function routePaths(finals: readonly Image[], paths: readonly string[] | undefined): (readonly string[] | undefined)[] {
  if (paths === undefined) return finals.map(() => undefined);
  if (finals.length === 1) return [paths];
  const routed: string[][] = finals.map(() => []);
  for (const given of paths) {
    const path = selectionRoot(given);
    const selectionsOf = (image: Image): string[] => (image.selections ?? ['/']).map(selectionRoot);
    const below = finals.flatMap((image, index) => (selectionsOf(image).some((s) => isAtOrUnder(s, path)) ? [index] : []));
    let closest: { index: number; depth: number } | undefined;
    finals.forEach((image, index) => {
      for (const s of selectionsOf(image)) if (isAtOrUnder(path, s) && (closest === undefined || s.length > closest.depth)) closest = { index, depth: s.length };
    });
    for (const index of below.length > 0 ? below : [closest?.index ?? 0]) routed[index]!.push(given);
  }
  return routed;
}

/**
 * The catalog record and store of an image the final image's unchanged files
 * point at, when the chain may follow it; otherwise the refusal goes to
 * `failures` and the result is undefined.
 */
async function openEarlier(options: PointInTimeOptions, final: Image, backupId: string, files: number, failures: ProblemList): Promise<{ image: Image; store: ObjectStore; fragmentSource?: FragmentSource } | undefined> {
  const holds = `image ${backupId}, which the index of ${final.backupId} names as holding ${files} unchanged file(s)`;
  let source: { image: Image; store: ObjectStore; fragmentSource?: FragmentSource };
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
