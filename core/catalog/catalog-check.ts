import type { Image, ImageCopy } from '../model/image.ts';
import type { Job } from '../model/job.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { StorageInventory } from '../ports/storage-inventory.ts';
import type { StorageUnitOpener } from '../ports/storage-unit-opener.ts';
import { messageOf, stopIfAborted } from '../errors.ts';
import { withoutImage } from '../media/volume-recycle.ts';
import { finishExpirations, type ExpirationDeps } from './expire-images.ts';
import { findInconsistencies, type CopyCheck, type Finding, type ObjectUnitListing, type RepairAction } from './consistency-findings.ts';

/**
 * `cairn catalog check [--repair]` in either runtime: reads what the catalog,
 * the job records, the reservations, the media manager and the storage units
 * hold, hands it to the pure decision (consistency-findings.ts), and with
 * `repair` carries out each finding's action, reporting every change.
 * Fragments are looked at (present, catalogued size), never read: reading
 * every byte is verify's (`cairn verify`).
 *
 * Nothing the runtime's janitor does is done again here: a dead job is
 * ended by `endDeadJobs` (the standalone janitor, or the cloud sweep's
 * ending), and a half-done expiration is finished by the expiration
 * executor (expire-images.ts).
 */
export interface CatalogCheckDeps {
  catalog: CatalogStore;
  config: Pick<ConfigStore, 'listStorageUnits' | 'getStorageUnit'>;
  jobs: Pick<JobStore, 'list' | 'get'>;
  media: Pick<MediaStore, 'listReservations' | 'release'>;
  emm?: MediaDatabase;
  /** Lists a disk or S3 unit's objects with sizes and times. */
  inventory: StorageInventory;
  openStorageUnit: StorageUnitOpener;
  /** What is wrong with a copy's objects (missing or short fragment, index, manifest); empty when it checks out. */
  checkCopy(image: Image, copy: ImageCopy, unit: StorageUnit): Promise<string[]>;
  /** Why nothing runs this QUEUED or ACTIVE job any more, or undefined while something may. */
  whyDead(job: Job): Promise<string | undefined>;
  /** Ends these dead jobs the way the runtime's janitor does and releases what they hold. */
  endDeadJobs(jobIds: readonly number[], now: Date): Promise<{ ended: { jobId: number; statusCode: number; reason: string }[]; problems: string[]; otherChanges?: RepairChange[] }>;
  /** Holders of reservations that are no job (idle unloads). */
  spared?: () => Promise<ReadonlySet<number>>;
  /** The expiration executor's other ports (storage reachability), for finishing half-done expirations. */
  expiration?: Partial<ExpirationDeps>;
}

export interface CatalogCheckOptions {
  repair: boolean;
  /** Orphans younger than this are not deleted (default 24 hours). */
  graceSeconds?: number;
  /**
   * Stops the check (its job was cancelled): looked at between two units'
   * listings, two copies' checks and two repairs, so a repair is done whole
   * or not begun. Rejects with the abort's 150.
   */
  signal?: AbortSignal;
}

export const DEFAULT_ORPHAN_GRACE_SECONDS = 24 * 3600;

/** One change a repair made. */
export interface RepairChange {
  subject: string;
  change: string;
}

export interface CatalogCheckReport {
  at: string;
  repaired: boolean;
  findings: Finding[];
  /** With repair: every change made. */
  changes: RepairChange[];
  /** Findings that remain after the repair (no action, or the action failed), and what could not be looked at. */
  unrepaired: Finding[];
  /** What could not be read or done: a unit not listed, an action that failed. */
  problems: string[];
  /** Objects and bytes looked at, for the summary line. */
  scanned: { objects: number; bytes: number; images: number };
}

export async function runCatalogCheck(deps: CatalogCheckDeps, now: Date, options: CatalogCheckOptions): Promise<CatalogCheckReport> {
  const problems: string[] = [];
  const units = await deps.config.listStorageUnits();
  const unitByName = new Map(units.map((u) => [u.name, u]));

  // Units kept in the same place (a tape unit's index in a disk unit's directory) are listed once, owning together.
  const places = new Map<string, StorageUnit[]>();
  for (const unit of units) {
    const place = placeOf(unit);
    places.set(place, [...(places.get(place) ?? []), unit]);
  }
  const listings: ObjectUnitListing[] = [];
  for (const [first, ...others] of places.values()) {
    stopIfAborted(options.signal);
    const unit = first!;
    const sameStorageAs = others.length > 0 ? { sameStorageAs: others.map((u) => u.name) } : {};
    try {
      listings.push({ storageUnit: unit.name, ...sameStorageAs, objects: await deps.inventory(unit.kind === 'tape' ? unit.index : unit, 'images/') });
    } catch (error) {
      const problem = `storage unit ${unit.name} could not be listed: ${messageOf(error)}`;
      listings.push({ storageUnit: unit.name, ...sameStorageAs, problem });
      problems.push(problem);
    }
  }

  // The catalog is read after the storage: an object listed was written before this read, so its image (committed)
  // or its claim (taken before any byte is written) is seen here, and no object being written is taken for an orphan.
  const [images, claims, reservations, volumes] = await Promise.all([
    deps.catalog.listImages(),
    deps.catalog.listClaims(),
    deps.media.listReservations(),
    deps.emm ? deps.emm.listMedia() : Promise.resolve([]),
  ]);

  const copyChecks: CopyCheck[] = [];
  for (const image of images) {
    if (image.state !== 'ACTIVE') continue;
    for (const copy of image.copies) {
      stopIfAborted(options.signal);
      const unit = unitByName.get(copy.storageUnit);
      const found = unit ? await deps.checkCopy(image, copy, unit).catch((error: unknown) => [messageOf(error)]) : [`storage unit ${copy.storageUnit} is not configured`];
      copyChecks.push({ backupId: image.backupId, copyNumber: copy.copyNumber, storageUnit: copy.storageUnit, problems: found });
    }
  }

  const open = [...(await deps.jobs.list({ state: 'ACTIVE', limit: 10_000 })), ...(await deps.jobs.list({ state: 'QUEUED', limit: 10_000 }))];
  const deadJobs: { job: Job; reason: string }[] = [];
  for (const job of open) {
    const reason = await deps.whyDead(job).catch((error: unknown) => {
      problems.push(`job ${job.jobId}: whether it still runs could not be told: ${messageOf(error)}`);
      return undefined;
    });
    if (reason !== undefined) deadJobs.push({ job, reason });
  }
  const holders = new Map<number, Job | undefined>();
  for (const jobId of new Set(reservations.map((r) => r.jobId))) holders.set(jobId, await deps.jobs.get(jobId));
  const spared = (await deps.spared?.()) ?? new Set<number>();

  const findings = findInconsistencies({ now, graceSeconds: options.graceSeconds ?? DEFAULT_ORPHAN_GRACE_SECONDS, images, claims, deadJobs, reservations, holders, spared, volumes, listings, copyChecks });
  const objects = listings.flatMap((l) => l.objects ?? []);
  const report: CatalogCheckReport = {
    at: now.toISOString(),
    repaired: options.repair,
    findings,
    changes: [],
    unrepaired: [],
    problems,
    scanned: { objects: objects.length, bytes: objects.reduce((s, o) => s + o.bytes, 0), images: images.length },
  };
  if (!options.repair) {
    report.unrepaired = findings;
    return report;
  }
  await repair(deps, findings, now, report, unitByName, listings, options.signal);
  return report;
}

/** Where a unit keeps its objects: a directory, or a bucket and prefix (trailing slashes aside). */
function placeOf(unit: StorageUnit): string {
  const store = unit.kind === 'tape' ? unit.index : unit;
  return store.kind === 'disk' ? `disk:${store.path.replace(/\/+$/, '')}` : `s3:${store.bucket}/${store.prefix.replace(/\/+$/, '')}`;
}

async function repair(deps: CatalogCheckDeps, findings: readonly Finding[], now: Date, report: CatalogCheckReport, units: ReadonlyMap<string, StorageUnit>, listings: readonly ObjectUnitListing[], signal: AbortSignal | undefined): Promise<void> {
  const done = new Set<Finding>();
  const failed = (finding: Finding, error: unknown) => report.problems.push(`${finding.subject}: the repair failed: ${messageOf(error)}`);
  const of = <K extends RepairAction['do']>(kind: K) => findings.filter((f): f is Finding & { action: Extract<RepairAction, { do: K }> } => f.action?.do === kind);

  // Dead jobs first: ending one releases its reservations and may withdraw the image it catalogued.
  const dead = of('end-job');
  stopIfAborted(signal);
  if (dead.length > 0) {
    try {
      const outcome = await deps.endDeadJobs(
        dead.map((f) => f.action.jobId),
        now,
      );
      for (const f of dead) {
        const ended = outcome.ended.find((e) => e.jobId === f.action.jobId);
        if (!ended) continue;
        report.changes.push({ subject: f.subject, change: `ended with status ${ended.statusCode} (${ended.reason}); its reservations released` });
        done.add(f);
      }
      // What else the janitor did on its way (an abandoned claim's data removed, an image withdrawn): changes too.
      report.changes.push(...(outcome.otherChanges ?? []));
      report.problems.push(...outcome.problems);
    } catch (error) {
      for (const f of dead) failed(f, error);
    }
  }
  const released = new Set<number>();
  for (const f of of('release')) {
    stopIfAborted(signal);
    try {
      if (!released.has(f.action.jobId)) {
        released.add(f.action.jobId);
        await deps.media.release(f.action.jobId);
        report.changes.push({ subject: `job ${f.action.jobId}`, change: 'reservations released' });
      }
      done.add(f);
    } catch (error) {
      failed(f, error);
    }
  }
  for (const f of of('mark-broken')) {
    stopIfAborted(signal);
    try {
      const { backupId, copyNumber, reasons } = f.action;
      const after = await deps.catalog.updateImage(backupId, (image) => {
        if (image.state !== 'ACTIVE' || image.broken?.copies.includes(copyNumber)) return undefined;
        const copies = [...(image.broken?.copies ?? []), copyNumber].sort((a, b) => a - b);
        return { ...image, broken: { at: now.toISOString(), copies, reasons: [...(image.broken?.reasons ?? []), ...reasons.map((r) => `copy ${copyNumber}: ${r}`)] } };
      });
      if (after?.broken?.copies.includes(copyNumber)) {
        report.changes.push({ subject: f.subject, change: 'marked broken' });
        done.add(f);
      } else if (after === undefined) {
        // Withdrawn with its dead job (the janitor, above), or expired meanwhile: nothing left to mark.
        done.add(f);
      }
    } catch (error) {
      failed(f, error);
    }
  }
  for (const f of of('unlist-image')) {
    stopIfAborted(signal);
    try {
      if (!deps.emm) throw new Error('no media manager');
      // Looked at again: an image committed meanwhile keeps its place on the volume.
      if (await deps.catalog.getImage(f.action.backupId)) continue;
      await deps.emm.updateMedia(f.action.mediaId, (m) => withoutImage(m, f.action.backupId));
      report.changes.push({ subject: f.subject, change: `image ${f.action.backupId} taken off its list` });
      done.add(f);
    } catch (error) {
      failed(f, error);
    }
  }
  for (const f of of('relist-image')) {
    stopIfAborted(signal);
    try {
      if (!deps.emm) throw new Error('no media manager');
      const { mediaId, backupId } = f.action;
      // Only while the image is still catalogued and the volume has not gone back to scratch meanwhile.
      if ((await deps.catalog.getImage(backupId))?.state !== 'ACTIVE') continue;
      const after = await deps.emm.updateMedia(mediaId, (m) => (m.images.includes(backupId) || m.state === 'UNASSIGNED' ? m : { ...m, images: [...m.images, backupId] }));
      if (!after.images.includes(backupId)) continue;
      report.changes.push({ subject: f.subject, change: `image ${backupId} listed on it again` });
      done.add(f);
    } catch (error) {
      failed(f, error);
    }
  }
  const expiring = of('finish-expiration');
  if (expiring.length > 0) {
    const run = await finishExpirations(
      { catalog: deps.catalog, config: deps.config, jobs: deps.jobs, openStorageUnit: deps.openStorageUnit, ...(deps.emm ? { emm: deps.emm } : {}), media: deps.media, ...deps.expiration },
      expiring.map((f) => f.action.backupId),
      signal,
    );
    for (const e of run.expired) {
      report.changes.push({ subject: `image ${e.backupId}`, change: `expiration finished: ${e.objectsDeleted} objects (${e.bytesDeleted} bytes) deleted, record removed` });
      for (const f of expiring) if (f.action.backupId === e.backupId) done.add(f);
    }
    report.problems.push(...run.problems);
  }
  // Orphans last, each looked at again first: the catalog may have come to own it since the listing.
  const owners = await ownedNow(deps);
  const sharing = new Map(listings.map((l) => [l.storageUnit, l.sameStorageAs]));
  for (const f of of('delete-object')) {
    stopIfAborted(signal);
    try {
      const unit = units.get(f.action.storageUnit);
      if (!unit) throw new Error(`storage unit ${f.action.storageUnit} is not configured`);
      if (owners(f.action.storageUnit, f.action.key, sharing.get(f.action.storageUnit))) continue;
      const store = await deps.openStorageUnit(unit.kind === 'tape' ? unit.index : unit);
      await store.delete(f.action.key);
      report.changes.push({ subject: f.subject, change: `deleted (${f.bytes} bytes)` });
      done.add(f);
    } catch (error) {
      failed(f, error);
    }
  }
  report.unrepaired = findings.filter((f) => !done.has(f));
}

/**
 * Whether each key is still owned by nobody, by the same rule, on the catalog
 * read again just before the deletion: an image committed or a claim taken
 * since the listing keeps its objects.
 */
async function ownedNow(deps: CatalogCheckDeps): Promise<(storageUnit: string, key: string, sameStorageAs: string[] | undefined) => boolean> {
  const [images, claims] = await Promise.all([deps.catalog.listImages(), deps.catalog.listClaims()]);
  return (storageUnit, key, sameStorageAs) => {
    const listing = { storageUnit, ...(sameStorageAs ? { sameStorageAs } : {}), objects: [{ key, bytes: 0, modifiedAt: new Date(0).toISOString() }] };
    const still = findInconsistencies({ now: new Date(0), graceSeconds: 0, images, claims, deadJobs: [], reservations: [], holders: new Map(), volumes: [], listings: [listing], copyChecks: [] });
    return !still.some((f) => f.kind === 'orphan-object');
  };
}
