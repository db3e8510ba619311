import { isBrokenCopy, type Image, type ImageClaim } from '../model/image.ts';
import type { Job } from '../model/job.ts';
import type { Reservation } from '../model/resource-request.ts';
import type { Media } from '../model/tape-media.ts';
import type { StoredObject } from '../ports/storage-inventory.ts';

/**
 * The catalog check's decision (NetWorker nsrck, NetBackup bpdbm
 * -consistency): what disagrees between the catalog, the job records, the
 * reservations, the media manager and what the storage units hold, and what
 * a repair would do about each. Pure: what was read comes in (catalog-check.ts
 * reads it), findings come out.
 */

/** What `--repair` does about a finding; absent on a finding no repair touches. */
export type RepairAction =
  | { do: 'delete-object'; storageUnit: string; key: string }
  | { do: 'mark-broken'; backupId: string; copyNumber: number; reasons: string[] }
  | { do: 'end-job'; jobId: number }
  | { do: 'release'; jobId: number }
  | { do: 'unlist-image'; mediaId: string; backupId: string }
  | { do: 'relist-image'; mediaId: string; backupId: string }
  | { do: 'finish-expiration'; backupId: string };

export type FindingKind = 'orphan-object' | 'damaged-image' | 'dead-job' | 'stale-reservation' | 'volume-lists-unknown-image' | 'volume-misses-image' | 'half-expired-image';

export interface Finding {
  kind: FindingKind;
  /** The object or record: `disk1:images/c1/c1_1795400000/stray.bin`, `image c1_1795400000 copy 1`, `job 12`, `volume A00001`. */
  subject: string;
  /** Bytes concerned (an orphan's size, a damaged copy's catalogued bytes); 0 for records. */
  bytes: number;
  /** What is wrong. */
  detail: string;
  /** What `--repair` does (or why it leaves it). */
  repair: string;
  action?: RepairAction;
}

export interface ObjectUnitListing {
  /** The storage unit whose objects these are (for a tape unit, what its index unit holds). */
  storageUnit: string;
  /** Other units kept in the same place (the same directory, bucket and prefix): what their images own is owned here too. */
  sameStorageAs?: string[];
  /** Undefined when the unit could not be listed (then `problem` says why, and no orphan is reported there). */
  objects?: StoredObject[];
  problem?: string;
}

export interface CopyCheck {
  backupId: string;
  copyNumber: number;
  storageUnit: string;
  /** Empty when the copy checks out (checkImageObjects: the manifest, every fragment and the index there with the catalogued sizes). */
  problems: string[];
}

export interface CatalogState {
  now: Date;
  /** Orphans younger than this are reported but not deleted: a writer may be about to commit them. */
  graceSeconds: number;
  images: readonly Image[];
  claims: readonly ImageClaim[];
  /** Jobs QUEUED or ACTIVE that nothing runs any more, each with why (standalone: its owner process is gone; cloud: its execution is not RUNNING). */
  deadJobs: readonly { job: Job; reason: string }[];
  reservations: readonly Reservation[];
  /** The state of each reservation holder: a job record, or undefined when there is no such job. */
  holders: ReadonlyMap<number, Job | undefined>;
  /** Holders that are no job (the scheduler's idle unloads): never stale. */
  spared?: ReadonlySet<number>;
  volumes: readonly Media[];
  listings: readonly ObjectUnitListing[];
  copyChecks: readonly CopyCheck[];
}

/** Files of an image's folder the record does not name but the image owns (edge-agent/image/block-map.ts). */
const OWNED_BY_CONVENTION = ['blocks.bin'];

/** The folder of an image (`images/<client>/<backupId>/`) a key is in, as the backup id; undefined outside one. */
export function imageFolderOf(key: string): string | undefined {
  const match = /^images\/[^/]+\/([^/]+)\//.exec(key);
  return match?.[1];
}

export function findInconsistencies(state: CatalogState): Finding[] {
  return [...orphans(state), ...damagedCopies(state), ...deadJobs(state), ...staleReservations(state), ...volumeLists(state), ...halfExpired(state)];
}

function orphans(state: CatalogState): Finding[] {
  // What each unit's images own: every key a copy's record names, and the files of its folder named by convention.
  const owned = new Map<string, Set<string>>();
  for (const image of state.images) {
    for (const copy of image.copies) {
      const keys = owned.get(copy.storageUnit) ?? new Set<string>();
      owned.set(copy.storageUnit, keys);
      keys.add(copy.indexKey).add(copy.manifestKey);
      for (const f of copy.fragments) if (f.location.kind === 'object') keys.add(f.location.key);
      const folder = copy.manifestKey.slice(0, copy.manifestKey.lastIndexOf('/') + 1);
      for (const name of OWNED_BY_CONVENTION) keys.add(folder + name);
    }
  }
  // A claim owns its whole folder, on every unit (its job may be writing; the janitor removes an abandoned one with its claim).
  const claimed = new Set(state.claims.map((c) => c.backupId));
  const found: Finding[] = [];
  for (const listing of state.listings) {
    for (const object of listing.objects ?? []) {
      if ([listing.storageUnit, ...(listing.sameStorageAs ?? [])].some((unit) => owned.get(unit)?.has(object.key))) continue;
      const folder = imageFolderOf(object.key);
      if (folder !== undefined && claimed.has(folder)) continue;
      const ageSeconds = Math.floor((state.now.getTime() - Date.parse(object.modifiedAt)) / 1000);
      const image = folder === undefined ? undefined : state.images.find((i) => i.backupId === folder);
      const detail = image ? `in the folder of image ${image.backupId}, which does not own it` : 'no image or claim owns it';
      const old = ageSeconds >= state.graceSeconds;
      found.push({
        kind: 'orphan-object',
        subject: `${listing.storageUnit}:${object.key}`,
        bytes: object.bytes,
        detail: `${detail} (written ${object.modifiedAt})`,
        repair: old ? 'delete it' : `none yet: it is younger than the grace period (${state.graceSeconds}s); a repair after ${new Date(Date.parse(object.modifiedAt) + state.graceSeconds * 1000).toISOString()} deletes it`,
        ...(old ? { action: { do: 'delete-object', storageUnit: listing.storageUnit, key: object.key } as const } : {}),
      });
    }
  }
  return found;
}

function damagedCopies(state: CatalogState): Finding[] {
  const byId = new Map(state.images.map((i) => [i.backupId, i]));
  const found: Finding[] = [];
  for (const check of state.copyChecks) {
    const image = byId.get(check.backupId);
    // An image being expired is half deleted on purpose (halfExpired reports it); a copy already marked is known.
    if (!image || image.state !== 'ACTIVE' || check.problems.length === 0 || isBrokenCopy(image, check.copyNumber)) continue;
    const copy = image.copies.find((c) => c.copyNumber === check.copyNumber);
    found.push({
      kind: 'damaged-image',
      subject: `image ${check.backupId} copy ${check.copyNumber} on ${check.storageUnit}`,
      bytes: copy ? copy.fragments.reduce((sum, f) => sum + f.bytes, 0) : 0,
      detail: check.problems.join('; '),
      repair: 'mark the copy broken (the record stays; restore and base choice skip an image whose every copy is broken)',
      action: { do: 'mark-broken', backupId: check.backupId, copyNumber: check.copyNumber, reasons: check.problems },
    });
  }
  return found;
}

function deadJobs(state: CatalogState): Finding[] {
  return state.deadJobs.map(({ job, reason }): Finding => ({
    kind: 'dead-job',
    subject: `job ${job.jobId}`,
    bytes: 0,
    detail: `${job.type} job ${job.jobId} is ${job.state}, but ${reason}`,
    repair: 'end it as the janitor does (2002, or the status of an image it catalogued that checks out) and release what it holds',
    action: { do: 'end-job', jobId: job.jobId },
  }));
}

function staleReservations(state: CatalogState): Finding[] {
  const dead = new Set(state.deadJobs.map((d) => d.job.jobId));
  const found: Finding[] = [];
  for (const r of state.reservations) {
    if (state.spared?.has(r.jobId) || dead.has(r.jobId)) continue; // a dead job's reservations go when it is ended
    const holder = state.holders.get(r.jobId);
    if (holder && holder.state !== 'DONE') continue;
    const what = r.kind === 'storage-unit-slot' ? `a slot of storage unit ${r.storageUnit}` : r.kind === 'drive' ? `drive ${r.drive} (${r.storageUnit})` : `volume ${r.mediaId} (pool ${r.pool})`;
    found.push({
      kind: 'stale-reservation',
      subject: `job ${r.jobId}: ${what}`,
      bytes: 0,
      detail: holder ? `job ${r.jobId} ended (status ${holder.statusCode}) but still holds ${what} since ${r.reservedAt}` : `job ${r.jobId} does not exist but holds ${what} since ${r.reservedAt}`,
      repair: `release job ${r.jobId}'s reservations`,
      action: { do: 'release', jobId: r.jobId },
    });
  }
  return found;
}

function volumeLists(state: CatalogState): Finding[] {
  const known = new Set([...state.images.map((i) => i.backupId), ...state.claims.map((c) => c.backupId)]);
  const found: Finding[] = [];
  for (const volume of state.volumes) {
    for (const backupId of volume.images) {
      if (known.has(backupId)) continue;
      found.push({
        kind: 'volume-lists-unknown-image',
        subject: `volume ${volume.mediaId}`,
        bytes: 0,
        detail: `volume ${volume.mediaId} lists image ${backupId}, which the catalog does not have`,
        repair: `take ${backupId} off the volume's list (an emptied volume returns to scratch at the next expiration run)`,
        action: { do: 'unlist-image', mediaId: volume.mediaId, backupId },
      });
    }
  }
  // The reverse: a catalogued image with a fragment on a volume that does not list it. The volume could return to
  // scratch and be overwritten while the image is still restorable: it is listed again, when its tape file is still
  // on the volume (before its append point); a fragment past it is a damaged copy (checkCopy says so).
  for (const image of state.images) {
    if (image.state !== 'ACTIVE') continue;
    const seen = new Set<string>();
    for (const copy of image.copies) {
      for (const f of copy.fragments) {
        const location = f.location;
        if (location.kind !== 'tape' || seen.has(location.mediaId)) continue;
        const volume = state.volumes.find((v) => v.mediaId === location.mediaId);
        if (!volume || volume.images.includes(image.backupId) || location.fileNumber < 1 || location.fileNumber >= volume.tapeFiles) continue;
        seen.add(volume.mediaId);
        found.push({
          kind: 'volume-misses-image',
          subject: `volume ${volume.mediaId}`,
          bytes: 0,
          detail: `image ${image.backupId} has a fragment on volume ${volume.mediaId} (tape file ${location.fileNumber}), which does not list it`,
          repair: `list ${image.backupId} on the volume again, so the volume stays out of scratch while the image lives`,
          action: { do: 'relist-image', mediaId: volume.mediaId, backupId: image.backupId },
        });
      }
    }
  }
  return found;
}

function halfExpired(state: CatalogState): Finding[] {
  return state.images
    .filter((i) => i.state === 'EXPIRED')
    .map((i): Finding => ({
      kind: 'half-expired-image',
      subject: `image ${i.backupId}`,
      bytes: 0,
      detail: `image ${i.backupId} is EXPIRED but its record is still there: an expiration did not finish`,
      repair: 'finish its expiration (delete its data, take it off its volumes, remove the record)',
      action: { do: 'finish-expiration', backupId: i.backupId },
    }));
}
