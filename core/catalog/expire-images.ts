import type { Image, ImageCopy } from '../model/image.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { StorageUnitOpener } from '../ports/storage-unit-opener.ts';
import { CairnError, NotFoundError, messageOf, stopIfAborted } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { asKind, type Job } from '../model/job.ts';
import { basesOf, jobNeedLabel, planAdministratorExpiration, planExpiration, type ExpirationPlan, type Expiring, type InFlightBackup, type Kept } from './expiration-plan.ts';
import { isExpiredVolume, recycled, whyNotRecycled, withoutImage } from '../media/volume-recycle.ts';
import { planCopyExpiration, withoutExpiredCopy, type CopyExpiring } from './copy-expiration.ts';

/**
 * Carries out expirations (nbdelete): the planner (expiration-plan.ts)
 * decides, this deletes. One image's expiration, in this order:
 *
 * 1. **Decide**: the catalog record turns EXPIRED. From then on nothing
 *    restores it, lists it as a point in time, or takes it as a base
 *    (they all want ACTIVE images).
 * 2. **Check again**: an incremental committed, or a job given it as its
 *    base, between the plan and the mark keeps it: it turns ACTIVE again
 *    before any byte is deleted.
 * 3. **Delete the data**: each copy's image folder (`images/<client>/<backupId>/`:
 *    fragments, file index, block maps, manifest) on a disk or S3 unit; for
 *    a tape copy, its index folder on the unit's index storage, and the image
 *    leaves each volume's list in the media manager (a volume left with no
 *    image returns to scratch in the recycle pass, never while a job holds it).
 * 4. **Forget**: the record is removed (only an EXPIRED one can be).
 *
 * Each step is idempotent, so a run killed anywhere is finished by the next
 * run: the planner lists every EXPIRED image again (`finishing an expiration
 * begun earlier`). Only an image's own folder is ever deleted (its backup id
 * names it, and an id belongs to one image for ever: DESIGN §8), so no other
 * image's data goes with it; what other images need of it is the planner's
 * rule (an image stays until its last dependant expires).
 */
export interface ExpirationDeps {
  catalog: CatalogStore;
  config: Pick<ConfigStore, 'getStorageUnit'>;
  jobs: Pick<JobStore, 'list'>;
  /** Opens a disk or S3 unit's object store. One that cannot reach a unit (the cloud scheduler and a disk unit on an agent host) throws: that image waits, EXPIRED, for a run that can. */
  openStorageUnit: StorageUnitOpener;
  /**
   * Whether this runtime can reach a unit's storage at all (default: every
   * unit). The scheduled cleanup leaves an image with a copy on a unit it
   * cannot reach as it is (ACTIVE, listed in `unreachable`), so those never
   * take the places of the images it can expire.
   */
  canReach?: (unit: StorageUnit) => boolean;
  /** The media manager: tape images leave their volumes' lists, and empty volumes return to scratch. Without it a tape image is not expired (reported). */
  emm?: MediaDatabase;
  /** The broker's reservations: a volume a job holds is never recycled under it. */
  media?: Pick<MediaStore, 'listReservations'>;
}

export interface ExpiredImage extends Expiring {
  /** Objects and incomplete writes deleted from disk and S3 units. */
  objectsDeleted: number;
  bytesDeleted: number;
  /** Tape volumes the image left. */
  volumes: string[];
}

/** A copy removed on its own retention, its image staying (copy-expiration.ts). */
export interface ExpiredCopy extends CopyExpiring {
  objectsDeleted: number;
  bytesDeleted: number;
  volumes: string[];
}

export interface RecycledVolume {
  mediaId: string;
  /** The pool it left for scratch. */
  fromPool: string;
}

export interface ExpirationRun {
  expired: ExpiredImage[];
  /** Past their date and kept, each with its reason (also images whose expiration was taken back at step 2). */
  kept: Kept[];
  /** Images the plan expires that this run left for the next (its `maxImages` bound). */
  deferred: number;
  /** Volumes returned to the scratch pool. */
  recycled: RecycledVolume[];
  /** Images the plan expires that this runtime cannot reach (`canReach`): they wait for a run that can. */
  unreachable?: { backupId: string; storageUnit: string }[];
  /** Copies removed on their own retention while their image stays. */
  copiesExpired?: ExpiredCopy[];
  /** What went wrong: an image that could not be expired stays (EXPIRED once marked) and is tried again by the next run. */
  problems: string[];
}

export interface ExpirationOptions {
  /** At most this many images per run (the scheduler tick's bound); the rest wait for the next run. */
  maxImages?: number;
  /**
   * Stops the run (its image-cleanup job was cancelled): looked at between
   * two images and two copies, so each image is expired whole (or, marked
   * EXPIRED, finished by the next run) or not begun. Rejects with the
   * abort's 150; the images expired before it stay expired.
   */
  signal?: AbortSignal;
}

/** What a scheduler tick does at most: images expired per tick. */
export const DEFAULT_EXPIRATIONS_PER_TICK = 25;

/** The decision alone (`cairn images expire --dry-run`, and `cairn images`' reasons). */
export async function expirationPlan(deps: Pick<ExpirationDeps, 'catalog' | 'jobs'>, now: Date): Promise<ExpirationPlan> {
  const { images, inFlight } = await imagesAndNeeds(deps);
  return planExpiration({ images, now, inFlight });
}

/** The scheduled cleanup: expires what the plan says, newest first, at most `maxImages`, then recycles emptied volumes. */
export async function runExpiration(deps: ExpirationDeps, now: Date, options: ExpirationOptions = {}): Promise<ExpirationRun> {
  const { images, inFlight } = await imagesAndNeeds(deps);
  const plan = planExpiration({ images, now, inFlight });
  const unreachable: { backupId: string; storageUnit: string }[] = [];
  let expirable = plan.expire;
  if (deps.canReach) {
    const byId = new Map(images.map((i) => [i.backupId, i]));
    const units = new Map<string, StorageUnit | undefined>();
    const reachable: Expiring[] = [];
    for (const entry of plan.expire) {
      let away: string | undefined;
      for (const copy of byId.get(entry.backupId)?.copies ?? []) {
        if (!units.has(copy.storageUnit)) units.set(copy.storageUnit, await deps.config.getStorageUnit(copy.storageUnit));
        const unit = units.get(copy.storageUnit);
        if (unit && !deps.canReach(unit)) away = unit.name;
      }
      if (away === undefined) reachable.push(entry);
      else unreachable.push({ backupId: entry.backupId, storageUnit: away });
    }
    expirable = reachable;
  }
  const chosen = expirable.slice(0, options.maxImages ?? Infinity);
  const run = await expireAll(deps, chosen, options.signal);
  const going = new Set(plan.expire.map((e) => e.backupId));
  const copies = await expireCopies(deps, images.filter((i) => !going.has(i.backupId)), inFlight, now, run.problems, options.signal);
  return { ...run, kept: [...plan.kept, ...run.kept], deferred: expirable.length - chosen.length, ...(unreachable.length > 0 ? { unreachable } : {}), ...(copies.length > 0 ? { copiesExpired: copies } : {}) };
}

/**
 * The copies whose own retention ended while their image stays
 * (copy-expiration.ts): each leaves the catalog record first (a
 * compare-and-set, so a copy a restore could still choose is never
 * half-deleted under it), then its data is deleted as an image's copy is.
 * A run killed between the two leaves data no copy owns, which the catalog
 * check reports as orphans. A copy on a unit this runtime cannot reach
 * waits for a run that can.
 */
async function expireCopies(deps: ExpirationDeps, images: readonly Image[], inFlight: readonly InFlightBackup[], now: Date, problems: string[], signal: AbortSignal | undefined): Promise<ExpiredCopy[]> {
  const byId = new Map(images.map((i) => [i.backupId, i]));
  const busy = new Set<string>();
  for (const job of inFlight) for (let id = job.baseBackupId, steps = 0; id !== undefined && !busy.has(id) && steps < 10_000; id = byId.get(id)?.baseBackupId, steps++) busy.add(id);
  const done: ExpiredCopy[] = [];
  for (const entry of planCopyExpiration({ images, now, busy })) {
    stopIfAborted(signal);
    try {
      const unit = await deps.config.getStorageUnit(entry.storageUnit);
      if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${entry.storageUnit} is not configured`);
      if (deps.canReach && !deps.canReach(unit)) continue;
      let removed: ImageCopy | undefined;
      const after = await deps.catalog.updateImage(entry.backupId, (i) => {
        const change = withoutExpiredCopy(i, entry.copyNumber, now);
        removed = change?.copy;
        return change?.image;
      });
      if (!after || !removed) continue;
      const deleted = await deleteCopyData(deps, after, removed, unit);
      done.push({ ...entry, objectsDeleted: deleted.objects, bytesDeleted: deleted.bytes, volumes: deleted.volumes });
    } catch (error) {
      problems.push(`copy ${entry.copyNumber} of image ${entry.backupId}: ${messageOf(error)}; tried again at the next cleanup`);
    }
  }
  return done;
}

/**
 * `cairn images expire --backup-id ID` (bpexpdate -d 0): the image expires
 * now, whatever its date. An image others need is refused (status 20,
 * naming them) unless `force`, which expires it together with every image
 * that needs it (they could not be restored without it). An image a
 * running backup is being taken against is always refused.
 */
export async function expireImageNow(deps: ExpirationDeps, backupId: string, now: Date, options: { force?: boolean; dryRun?: boolean; signal?: AbortSignal } = {}): Promise<ExpirationRun> {
  const image = await deps.catalog.getImage(backupId);
  if (!image) throw new NotFoundError('image', backupId);
  const { images, inFlight } = await imagesAndNeeds(deps, image.client);
  const decision = planAdministratorExpiration({ images, now, inFlight, backupId, force: options.force ?? false });
  if (!decision.allowed) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, decision.reason, { details: decision.dependants.map((d) => `needed by ${d}`) });
  if (options.dryRun) return { expired: decision.expire.map((e) => ({ ...e, objectsDeleted: 0, bytesDeleted: 0, volumes: [] })), kept: [], deferred: 0, recycled: [], problems: [] };
  // An administrator's expiration marks an ACTIVE image whatever its date: step 2 still takes it back when an image committed meanwhile needs it.
  return { ...(await expireAll(deps, decision.expire, options.signal)), deferred: 0 };
}

/**
 * `cairn images set-expiry` (bpexpdate -d): the image's new expiration
 * date. An earlier date than its dependants' keeps it until theirs
 * (`cairn images` says so); a date in the past expires it at the next
 * cleanup. An image being expired cannot be given a date any more (20).
 */
export async function setImageExpiry(deps: Pick<ExpirationDeps, 'catalog' | 'emm'>, backupId: string, expiresAt: Date): Promise<Image> {
  let refused: Image | undefined;
  const image = await deps.catalog.updateImage(backupId, (i) => {
    if (i.state !== 'ACTIVE') {
      refused = i;
      return undefined;
    }
    refused = undefined;
    return { ...i, expiresAt: expiresAt.toISOString() };
  });
  if (!image) throw new NotFoundError('image', backupId);
  if (refused) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${backupId} is being expired (${refused.state}): its date can no longer change`);
  // A volume's expiration is the latest of its images' (what `cairn media` shows): a later date moves it.
  if (deps.emm) {
    for (const mediaId of volumesOf(image)) {
      await deps.emm.updateMedia(mediaId, (m) => (m.images.includes(backupId) && (m.expiresAt === undefined || m.expiresAt < image.expiresAt) ? { ...m, expiresAt: image.expiresAt } : m)).catch((error: unknown) => {
        if (!(error instanceof NotFoundError)) throw error;
      });
    }
  }
  return image;
}

/**
 * Finishes the expirations of these images, which must be EXPIRED already
 * (marked by a run that did not finish): the catalog check's repair
 * (core/catalog/catalog-check.ts). The same steps as a cleanup's; an image
 * found ACTIVE is left alone.
 */
export async function finishExpirations(deps: ExpirationDeps, backupIds: readonly string[], signal?: AbortSignal): Promise<Omit<ExpirationRun, 'deferred'>> {
  const entries: Expiring[] = [];
  for (const backupId of backupIds) {
    const image = await deps.catalog.getImage(backupId);
    if (image?.state === 'EXPIRED') entries.push({ backupId, client: image.client, expiresAt: image.expiresAt, reason: 'finishing an expiration begun earlier' });
  }
  return expireAll(deps, entries, signal);
}

/** Expires each in order (newest first), then recycles the volumes they left. One image's failure does not stop the others; an abort does, between two images. */
async function expireAll(deps: ExpirationDeps, chosen: readonly Expiring[], signal?: AbortSignal): Promise<Omit<ExpirationRun, 'deferred'>> {
  const run: Omit<ExpirationRun, 'deferred'> = { expired: [], kept: [], recycled: [], problems: [] };
  const touched = new Set<string>();
  for (const entry of chosen) {
    stopIfAborted(signal);
    try {
      const outcome = await expireOne(deps, entry);
      if ('kept' in outcome) run.kept.push(outcome.kept);
      else {
        run.expired.push(outcome.expired);
        for (const v of outcome.expired.volumes) touched.add(v);
      }
    } catch (error) {
      run.problems.push(`image ${entry.backupId}: ${messageOf(error)}; tried again at the next cleanup`);
    }
  }
  if (deps.emm) {
    try {
      const { recycled: done, notes } = await recycleVolumes(deps.emm, deps.media, touched);
      run.recycled.push(...done);
      run.problems.push(...notes);
    } catch (error) {
      run.problems.push(`volumes could not be returned to scratch: ${messageOf(error)}; tried again at the next cleanup`);
    }
  }
  return run;
}

async function expireOne(deps: ExpirationDeps, entry: Expiring): Promise<{ expired: ExpiredImage } | { kept: Kept }> {
  // 1. Decide.
  let wasActive = false;
  const marked = await deps.catalog.updateImage(entry.backupId, (i) => {
    wasActive = i.state === 'ACTIVE';
    return wasActive ? { ...i, state: 'EXPIRED' } : undefined;
  });
  if (!marked) return { expired: { ...entry, objectsDeleted: 0, bytesDeleted: 0, volumes: [] } }; // removed meanwhile: done
  // 2. Check again, after the mark: what committed or started before it is seen here; what comes after it sees EXPIRED.
  const need = await stillNeeded(deps, marked);
  if (need && wasActive) {
    await deps.catalog.updateImage(entry.backupId, (i) => (i.state === 'EXPIRED' ? { ...i, state: 'ACTIVE' } : undefined));
    return { kept: { backupId: entry.backupId, client: entry.client, expiresAt: entry.expiresAt, neededBy: need.by, reason: `kept: ${need.reason}` } };
  }
  if (need) {
    // Marked by another run that has not checked yet (it will take it back), or that died between its mark and its
    // check. Only the run that marked it takes a mark back; this one never deletes what an ACTIVE image needs.
    throw new CairnError(StatusCode.CONFLICT, `it is EXPIRED, but ${need.by} needs it (${need.reason}): left for the run that marked it; if none is running (it died), its data is whole: \`cairn images expire --backup-id ${marked.backupId} --force\` expires it with what needs it`);
  }
  // 3. Delete the data, every copy.
  let objectsDeleted = 0;
  let bytesDeleted = 0;
  const volumes: string[] = [];
  for (const copy of marked.copies) {
    const unit = await deps.config.getStorageUnit(copy.storageUnit);
    if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `copy ${copy.copyNumber} is on storage unit ${copy.storageUnit}, which is not configured: its data cannot be deleted (the image stays EXPIRED; add the unit back, or remove it with --force once its data is gone)`);
    const deleted = await deleteCopyData(deps, marked, copy, unit);
    objectsDeleted += deleted.objects;
    bytesDeleted += deleted.bytes;
    volumes.push(...deleted.volumes);
  }
  // 4. Forget.
  await deps.catalog.removeExpiredImage(entry.backupId);
  return { expired: { ...entry, objectsDeleted, bytesDeleted, volumes } };
}

/** Whether an ACTIVE image or a job not ended (a backup on it, a restore or verify reading it) needs the image after all (step 2). */
async function stillNeeded(deps: ExpirationDeps, image: Image): Promise<{ by: string; reason: string } | undefined> {
  const { images, inFlight } = await imagesAndNeeds(deps, image.client);
  const dependant = images.find((i) => i.state === 'ACTIVE' && basesOf(i).includes(image.backupId));
  if (dependant) return { by: dependant.backupId, reason: `incremental ${dependant.backupId} was taken against it while it was being expired (until ${dependant.expiresAt})` };
  const byId = new Map(images.map((i) => [i.backupId, i]));
  for (const job of inFlight) {
    // The job's base chain, as the planner walks it.
    for (let id = job.baseBackupId, steps = 0; id !== undefined && steps < 10_000; id = byId.get(id)?.baseBackupId, steps++) {
      if (id === image.backupId) return { by: `job ${job.jobId}`, reason: jobNeedLabel(job) };
    }
  }
  return undefined;
}

/** The folder an image's objects live in (`images/<client>/<backupId>/`), taken from a key of the copy; undefined for a key outside such a folder. */
function imageFolder(key: string, backupId: string): string | undefined {
  const folder = key.slice(0, key.lastIndexOf('/') + 1);
  return folder.endsWith(`/${backupId}/`) || folder === `${backupId}/` ? folder : undefined;
}

async function deleteCopyData(deps: ExpirationDeps, image: Image, copy: ImageCopy, unit: StorageUnit): Promise<{ objects: number; bytes: number; volumes: string[] }> {
  const objectUnit = unit.kind === 'tape' ? unit.index : unit;
  const tapeVolumes = [...new Set(copy.fragments.flatMap((f) => (f.location.kind === 'tape' ? [f.location.mediaId] : [])))];
  if (tapeVolumes.length > 0 && !deps.emm) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `copy ${copy.copyNumber} is on tape, and this cleanup has no media manager to take it off its volumes`);
  const store = await deps.openStorageUnit(objectUnit);
  const keys = [copy.indexKey, copy.manifestKey, ...copy.fragments.flatMap((f) => (f.location.kind === 'object' ? [f.location.key] : []))];
  let objects = 0;
  let bytes = 0;
  const folders = new Set<string>();
  for (const key of keys) {
    const folder = imageFolder(key, image.backupId);
    if (folder) folders.add(folder);
    else {
      // A key outside the image's own folder (never written so today): only that object goes.
      const head = await store.head(key);
      await store.delete(key);
      if (head) {
        objects += 1;
        bytes += head.bytes;
      }
    }
  }
  for (const folder of folders) {
    const gone = await store.deletePrefix(folder);
    objects += gone.objects + gone.incomplete;
    bytes += gone.bytes;
  }
  for (const mediaId of tapeVolumes) {
    await deps.emm!.updateMedia(mediaId, (m) => withoutImage(m, image.backupId)).catch((error: unknown) => {
      // A volume the media manager no longer knows (deleted by an operator) holds nothing to take off.
      if (!(error instanceof NotFoundError)) throw error;
    });
  }
  return { objects, bytes, volumes: tapeVolumes };
}

/**
 * Returns written volumes with no image left to scratch, unless a job holds
 * them or they are on hold. Looks at every volume (a run killed between an
 * image leaving a volume and the volume's recycling is finished here), and
 * says why a volume this run emptied (`touched`) stays.
 */
export async function recycleVolumes(emm: MediaDatabase, media: ExpirationDeps['media'], touched: ReadonlySet<string> = new Set()): Promise<{ recycled: RecycledVolume[]; notes: string[] }> {
  const [volumes, reservations] = await Promise.all([emm.listMedia(), media ? media.listReservations() : Promise.resolve([])]);
  const holder = new Map<string, number>();
  for (const r of reservations) if (r.kind === 'volume') holder.set(r.mediaId, r.jobId);
  const done: RecycledVolume[] = [];
  const notes: string[] = [];
  for (const volume of volumes) {
    const why = whyNotRecycled(volume, holder.get(volume.mediaId));
    if (volume.images.length === 0 && why && touched.has(volume.mediaId)) notes.push(`volume ${volume.mediaId} holds no image any more but stays out of scratch: ${why}`);
    if (why || !isExpiredVolume(volume)) continue;
    const after = await emm.updateMedia(volume.mediaId, recycled);
    if (after.state === 'UNASSIGNED' && after.tapeFiles === 0) done.push({ mediaId: volume.mediaId, fromPool: volume.pool });
  }
  return { recycled: done, notes };
}

/** The tape volumes an image's copies are on. */
function volumesOf(image: Image): string[] {
  return [...new Set(image.copies.flatMap((c) => c.fragments.flatMap((f) => (f.location.kind === 'tape' ? [f.location.mediaId] : []))))];
}

/** Jobs not ended yet. */
async function openJobs(jobs: Pick<JobStore, 'list'>): Promise<Job[]> {
  const [queued, active] = await Promise.all([jobs.list({ state: 'QUEUED', limit: 10_000 }), jobs.list({ state: 'ACTIVE', limit: 10_000 })]);
  return [...queued, ...active];
}

/**
 * The image chains jobs not ended yet need: a backup's base; the image a
 * verify, a duplicate or a restore of one image reads; for a restore of a point in time,
 * every image of its client (and policy) taken up to that time, since the
 * view it rebuilds may start at any of them. The restore and the verify
 * otherwise fail halfway when the cleanup deletes what they read.
 */
function chainsNeeded(open: readonly Job[], images: readonly Image[]): InFlightBackup[] {
  return open.flatMap((job): InFlightBackup[] => {
    const backup = asKind(job, 'backup');
    if (backup) return [{ jobId: backup.jobId, ...(backup.baseBackupId === undefined ? {} : { baseBackupId: backup.baseBackupId }) }];
    const verify = asKind(job, 'verify');
    if (verify) return [{ jobId: verify.jobId, baseBackupId: verify.image, kind: 'verify' }];
    // A duplicate reads its image's copy while it writes the new one: the image stays until the copy is catalogued.
    const duplicate = asKind(job, 'duplicate');
    if (duplicate) return [{ jobId: duplicate.jobId, baseBackupId: duplicate.image, kind: 'duplicate' }];
    const restore = asKind(job, 'restore');
    if (!restore) return [];
    const source = restore.source;
    if ('backupId' in source) return [{ jobId: restore.jobId, baseBackupId: source.backupId, kind: 'restore' }];
    const at = Date.parse(source.pointInTime);
    return images
      .filter((i) => i.client === restore.client && (source.policy === undefined || i.policy === source.policy) && Date.parse(i.createdAt) <= at)
      .map((i) => ({ jobId: restore.jobId, baseBackupId: i.backupId, kind: 'restore' as const }));
  });
}

/** The images (all, or one client's) and the chains open jobs need among them. */
async function imagesAndNeeds(deps: Pick<ExpirationDeps, 'catalog' | 'jobs'>, client?: string): Promise<{ images: Image[]; inFlight: InFlightBackup[] }> {
  const [images, open] = await Promise.all([deps.catalog.listImages(client === undefined ? undefined : { client }), openJobs(deps.jobs)]);
  return { images, inFlight: chainsNeeded(open, images) };
}
