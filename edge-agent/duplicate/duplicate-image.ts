import { CairnError, NotFoundError, messageOf } from '#core/errors.ts';
import { unrecordCopyWrites } from '#core/catalog/tape-writes.ts';
import type { Image } from '#core/model/image.ts';
import { addCopy, duplicateRefusal, nextCopyNumber, sourceCopy } from '#core/catalog/image-copies.ts';
import type { ImageCopy } from '#core/model/image.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { StatusCode } from '#core/status-codes.ts';
import { encodeManifest, readManifest } from '../image/manifest.ts';
import { writeCopy, type CopyProgress, type WrittenCopy } from './write-copy.ts';
import { writeTapeCopy } from './write-tape-copy.ts';
import { tapeCopyReader } from './tape-copy-reader.ts';
import type { TapeUnit } from '#core/broker/tape-choice.ts';
import type { TapeCopyHolding } from './tape-copy-drive.ts';

export interface DuplicateDeps {
  catalog: CatalogStore;
  config: Pick<ConfigStore, 'getStorageUnit'>;
  openStorageUnit: StorageUnitOpener;
  /**
   * What a copy to or from a tape unit needs: the broker's stores, the media
   * manager, the robot and drives (`TapeCopyHolding` without its holder), and
   * `holder`, which gives an id to hold the drive and volumes under when the
   * request names no job (the standalone runtime's: a holder its janitor
   * spares while this process lives, local/reservation-holders.ts). Absent:
   * a tape unit is refused (20).
   */
  tape?: Omit<TapeCopyHolding, 'holder' | 'signal'> & { holder(): Promise<ReservationHolder> };
}

/** An id reservations are held under, for as long as a duplicate runs without a job of its own; `end` gives it up once they are released. */
export interface ReservationHolder {
  jobId: number;
  end(): Promise<void>;
}

export interface DuplicateRequest {
  backupId: string;
  /** The storage unit the new copy goes to. */
  to: string;
  /** The copy read (default: the primary). */
  fromCopy?: number;
  /** The new copy's own retention end (ISO time); absent: the image's date. */
  expiresAt?: string;
  onProgress?: (progress: CopyProgress) => void;
  /** Told the name of each tape drive the copy is given (to write, or to read a tape copy), as it is given: what the job records as its drives. */
  onDrive?: (drive: string) => void;
  signal?: AbortSignal;
  /**
   * The job running the duplicate: a copy to or from tape holds its drive
   * and volumes under it (so the janitor treats them as that job's). Absent:
   * `deps.tape.holder()` gives one.
   */
  jobId?: number;
}

export interface DuplicateResult {
  backupId: string;
  copyNumber: number;
  storageUnit: string;
  fromCopy: number;
  objects: number;
  bytes: number;
  /** The tape volumes the copy was written on, in order (a copy to a tape unit). */
  volumes?: string[];
  /** True when the image already had a copy on that unit (committed by an earlier or concurrent run): nothing was catalogued. */
  alreadyPresent?: boolean;
  expiresAt: string;
}

/**
 * `cairn duplicate` (bpduplicate): copies one copy of an image to another
 * storage unit as its next copy (2, 3, ...), verified (write-copy.ts), then
 * adds it to the catalog record in one compare-and-set. The copy is written
 * under its own folder on the target unit and catalogued only at the end: a
 * run killed midway leaves objects no catalogued copy owns, which nothing
 * lists or restores, and the next run writes them again (each put replaces a
 * whole object) before it commits. Two runs to the same unit write the same
 * bytes; the first commit wins and the other reports the copy present.
 *
 * Refused (20): an image being expired, a unit that already holds a copy
 * (or shares the object root of one that does), a copy from tape to tape
 * with fewer than two drives or into the source's pool, and a tape unit
 * with no `deps.tape`. From tape to tape, one drive reads (its own holder)
 * and another writes.
 *
 * To a tape unit (write-tape-copy.ts) the copy reserves a drive and volumes
 * through the broker's rules under `request.jobId` (or a holder from
 * `deps.tape.holder()`), writes each fragment as a tape file, spans at end
 * of media, reads the copy back from tape, records the volumes' writes, and
 * releases the drive on every path; the catalog commit comes after. From
 * a tape copy (tape-copy-reader.ts) its fragments are read volume by volume
 * in one drive reserved the same way, and written as objects.
 */
export async function duplicateImage(deps: DuplicateDeps, request: DuplicateRequest): Promise<DuplicateResult> {
  const image = await deps.catalog.getImage(request.backupId);
  if (!image) throw new NotFoundError('image', request.backupId);
  const target = await deps.config.getStorageUnit(request.to);
  if (!target) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${request.to} does not exist`);
  const from = sourceCopy(image, request.fromCopy);
  if (!from) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${image.backupId} has no copy ${request.fromCopy} (its copies: ${image.copies.map((c) => c.copyNumber).join(', ')})`);
  const units = new Map<string, StorageUnit | undefined>();
  for (const copy of image.copies) units.set(copy.storageUnit, await deps.config.getStorageUnit(copy.storageUnit));
  const refusal = duplicateRefusal(image, target, units);
  if (refusal) throw refusal;
  const fromUnit = units.get(from.storageUnit);
  if (!fromUnit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `copy ${from.copyNumber} of image ${image.backupId} is on storage unit ${from.storageUnit}, which does not exist`);
  if ((fromUnit.kind === 'tape' || target.kind === 'tape') && !deps.tape) {
    const unit = fromUnit.kind === 'tape' ? fromUnit.name : target.name;
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${unit} is a tape unit, and this runtime cannot reach its robot and drives to duplicate ${fromUnit.kind === 'tape' ? 'from' : 'to'} it (cairn --aws duplicate with tape is not built: the drives are on the robot's host)`);
  }

  if (fromUnit.kind === 'tape' && target.kind === 'tape' && deps.tape) await tapeToTapeRefusal(deps.tape, image.backupId, from.copyNumber, fromUnit as TapeUnit, target as TapeUnit);

  const [fromStore, toStore] = await Promise.all([deps.openStorageUnit(fromUnit), deps.openStorageUnit(target)]);
  let copyNumber = nextCopyNumber(image);
  const common = {
    image,
    copyNumber,
    ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
    ...(request.onProgress ? { onProgress: request.onProgress } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  };
  let written: WrittenCopy & { volumes?: string[] };
  const tape = deps.tape;
  if ((target.kind === 'tape' || fromUnit.kind === 'tape') && tape) {
    const held = request.jobId === undefined ? await tape.holder() : undefined;
    try {
      const { holder: _holder, ...services } = tape;
      const told = { ...(request.signal ? { signal: request.signal } : {}), ...(request.onDrive ? { onDrive: request.onDrive } : {}) };
      const holding = { ...services, holder: request.jobId ?? held!.jobId, ...told };
      if (target.kind === 'tape' && fromUnit.kind === 'tape') {
        // Tape to tape: two drives. The source's drive is held under a holder of its own (a release frees everything its holder holds), and its first volume reserved before the writer chooses its volumes.
        const readHolder = await tape.holder();
        let failure: unknown;
        const reader = tapeCopyReader({ ...services, holder: readHolder.jobId, ...told }, fromUnit as TapeUnit);
        try {
          const first = from.fragments.find((f) => f.location.kind === 'tape');
          if (first?.location.kind === 'tape') await reader.hold(first.location.mediaId);
          written = await writeTapeCopy({ ...common, from: { copy: from, store: fromStore, readFragment: reader.read }, to: { unit: target, indexStore: toStore } }, holding);
        } catch (error) {
          failure = error;
          throw error;
        } finally {
          await reader.release(failure === undefined, failure).finally(() => readHolder.end());
        }
      } else if (target.kind === 'tape') {
        written = await writeTapeCopy({ ...common, from: { copy: from, store: fromStore }, to: { unit: target, indexStore: toStore } }, holding);
      } else {
        // From tape: its fragments read volume by volume in one reserved drive, released once the copy is written and read back.
        const reader = tapeCopyReader(holding, fromUnit as TapeUnit);
        let failure: unknown;
        try {
          written = await writeCopy({ ...common, from: { copy: from, store: fromStore, readFragment: reader.read }, to: { storageUnit: target.name, store: toStore } });
        } catch (error) {
          failure = error;
          throw error;
        } finally {
          await reader.release(failure === undefined, failure);
        }
      }
    } finally {
      await held?.end();
    }
  } else {
    written = await writeCopy({ ...common, from: { copy: from, store: fromStore }, to: { storageUnit: target.name, store: toStore } });
  }

  // Catalog last: a compare-and-set on the record. A copy number taken meanwhile (another duplicate to another unit) is rewritten in the manifest and tried again.
  // A duplicate stopped (its job cancelled) after its last object catalogues nothing: its objects stay as a stopped run's do.
  if (request.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, `termination requested by administrator: copy ${copyNumber} of image ${image.backupId} on ${target.name} was written and not catalogued`, { cause: request.signal.reason });
  for (let attempt = 0; ; attempt++) {
    const copy: ImageCopy = { ...written.copy, copyNumber };
    let outcome: ReturnType<typeof addCopy> | undefined;
    const stored = await deps.catalog.updateImage(image.backupId, (current) => {
      outcome = addCopy(current, copy);
      return outcome.kind === 'added' ? outcome.image : undefined;
    });
    if (!stored || !outcome) {
      const note = (await forgetTapeWrites(deps, image.backupId, written, undefined)) + (await dropUnownedFolder(toStore, image.backupId, written.copy));
      throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${image.backupId} left the catalog while it was being duplicated: copy ${copyNumber} on ${target.name} is not catalogued${note}`);
    }
    // A copy the catalog did not take leaves no image on the volumes it counted (written.volumes: a copy to tape).
    if (outcome.kind === 'present' || outcome.kind === 'refused') {
      let note = await forgetTapeWrites(deps, image.backupId, written, stored);
      if (outcome.kind === 'refused') note += await dropUnownedFolder(toStore, image.backupId, written.copy);
      if (outcome.kind === 'refused') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${outcome.reason}${note}`);
    }
    const base = { backupId: image.backupId, storageUnit: target.name, fromCopy: from.copyNumber, objects: written.objects, bytes: written.bytes, ...(written.volumes ? { volumes: written.volumes } : {}) };
    switch (outcome.kind) {
      case 'added':
        return { ...base, copyNumber, expiresAt: copy.expiresAt ?? stored.expiresAt };
      case 'present': {
        const present = outcome.copy;
        if (written.volumes) {
          // Two runs to one tape unit wrote the same objects to its index storage but different tape locations into the manifest: the catalogued copy's own are put back, whichever run wrote last.
          const manifest = await readManifest(toStore, present.manifestKey);
          await toStore.put(present.manifestKey, encodeManifest({ ...manifest, copyNumber: present.copyNumber, storageUnit: present.storageUnit, fragments: present.fragments }));
        }
        const volumes = [...new Set(present.fragments.flatMap((f) => (f.location.kind === 'tape' ? [f.location.mediaId] : [])))];
        return { ...base, ...(written.volumes ? { volumes } : {}), copyNumber: present.copyNumber, alreadyPresent: true, expiresAt: present.expiresAt ?? stored.expiresAt };
      }
      case 'renumber': {
        if (attempt >= 5) {
          const note = await forgetTapeWrites(deps, image.backupId, written, stored);
          throw new CairnError(StatusCode.CONFLICT, `image ${image.backupId}: copy numbers kept changing while copy ${copyNumber} was catalogued; run the duplicate again${note}`);
        }
        copyNumber = outcome.copyNumber;
        const manifest = await readManifest(toStore, copy.manifestKey);
        await toStore.put(copy.manifestKey, encodeManifest({ ...manifest, copyNumber }));
      }
    }
  }
}

/**
 * After a late refusal (the copy was written to tape and counted on its
 * volumes, then the catalog did not take it): the image leaves those
 * volumes' lists where no catalogued copy has a fragment
 * (`unrecordCopyWrites`), so no volume keeps an image whose copy the catalog
 * does not have. Resolves a note for the caller's message: which volumes
 * were let go, or which still list the image and why.
 */
async function forgetTapeWrites(deps: DuplicateDeps, backupId: string, written: { volumes?: string[] }, current: Image | undefined): Promise<string> {
  if (!written.volumes?.length || !deps.tape) return '';
  try {
    const taken = await unrecordCopyWrites(deps.tape.emm, backupId, written.volumes, current);
    return taken.length ? ` (its tape files stay past the append point of ${taken.join(', ')}, which no longer list the image)` : '';
  } catch (error) {
    return ` (volumes ${written.volumes.join(', ')} still list the image: taking it off failed: ${messageOf(error)}; once the image leaves the catalog, cairn catalog check --repair takes it off)`;
  }
}

/**
 * After the catalog refused the copy because the image is being expired (or
 * is gone): no run can ever catalogue a copy of it again, so the objects this
 * copy wrote under the image's folder on the target (for a tape unit, its
 * index storage: index, block maps, manifest) are deleted rather than left as
 * orphans for the catalog check. Not after a `present` outcome: the
 * catalogued copy owns the same keys. Resolves a note for the message.
 */
async function dropUnownedFolder(store: ObjectStore, backupId: string, copy: ImageCopy): Promise<string> {
  const folder = copy.manifestKey.slice(0, copy.manifestKey.lastIndexOf('/') + 1);
  // Only a folder of the image's own (images/<client>/<backupId>/), never a shared prefix.
  if (!folder.endsWith(`/${backupId}/`)) return '';
  try {
    const gone = await store.deletePrefix(folder);
    return gone.objects > 0 ? ` (the ${gone.objects} object(s) it wrote under ${folder} were deleted)` : '';
  } catch (error) {
    return ` (the objects it wrote under ${folder} could not be deleted: ${messageOf(error)}; cairn catalog check reports them as orphans)`;
  }
}

/**
 * Why a copy from one tape unit to another cannot be made here, thrown
 * (20), before anything is reserved: it reads through one drive and writes
 * through another at once, so the robots must have two drives between them
 * (one robot: two drives of it); and the target's pool must not be the
 * source's, or the writer could choose to append to a volume the reader
 * still has to read (each would wait for the other until the mount
 * timeout).
 */
async function tapeToTapeRefusal(tape: NonNullable<DuplicateDeps['tape']>, backupId: string, copyNumber: number, from: TapeUnit, to: TapeUnit): Promise<void> {
  const what = `copy ${copyNumber} of image ${backupId} is on tape unit ${from.name}: a copy from tape to tape unit ${to.name}`;
  if (from.pool === to.pool) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${what} writes to the pool its source volumes are in (${to.pool}); give the target unit another pool`);
  if (from.robot !== to.robot) return;
  const drives = await tape.emm.listDrives(from.robot);
  if (drives.length < 2) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${what} reads through one drive and writes through another, and robot ${from.robot} has ${drives.length} drive(s); give --from-copy with a disk or S3 copy, or add a drive`);
}
