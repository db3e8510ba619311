import { MediaId, type Drive, type Media } from '../model/tape-media.ts';

/**
 * What a changer reports of a library, as far as the inventory needs it.
 * (The changer port, core/ports/changer.ts, has the full inventory; this is
 * the part reconciliation reads, so the rule does not depend on it.)
 * A slot with `full: true` and no barcode holds a volume without a readable label.
 */
export interface SlotReport {
  slot: number;
  barcode?: string;
  full?: boolean;
}
export interface DriveReport {
  index: number;
  barcode?: string;
  full?: boolean;
  /** The storage slot the loaded volume came from, when the changer knows it. */
  sourceSlot?: number;
}
export interface InventoryReport {
  slots: readonly SlotReport[];
  drives: readonly DriveReport[];
  importExport?: readonly SlotReport[];
}

/** Where the inventory found a volume in the robot. */
export interface Place {
  slot?: number;
  drive?: string;
}

/** One thing the inventory could not turn into a volume, and why. */
export interface InventoryProblem {
  where: string;
  reason: string;
}

/**
 * The reconciliation (vmupdate's plan): what to change in the media manager
 * so it matches the library, each with the reason shown to the operator.
 */
export interface InventoryPlan {
  robot: string;
  /** New barcodes: added to the scratch pool, where they were found. */
  add: { mediaId: string; place: Place; reason: string }[];
  /** Known volumes now at another place in this robot (or back from outside, or from another robot). */
  move: { mediaId: string; place: Place; reason: string }[];
  /** Known volumes of this robot the library no longer holds: they go outside the robot. */
  leave: { mediaId: string; reason: string }[];
  /** Known volumes already where the media manager has them. */
  unchanged: string[];
  /** Full slots and drives without a usable barcode, duplicate barcodes, volumes in import/export slots. Reported, never added. */
  problems: InventoryProblem[];
}

/**
 * Reconciles the media manager's view of `robot` with what its changer
 * reports. Pure: the caller applies the plan (MediaDatabase.applyInventory).
 *
 * - A barcode the media manager does not know is added to scratch at its place.
 * - A known volume found at another place (another slot, a drive, this
 *   robot after another one or outside) is moved there; its pool, state and
 *   history stay.
 * - A volume the media manager has in this robot that the library no longer
 *   holds leaves the robot: robot and slot are cleared and `lastRobot` keeps
 *   this robot's name (NetBackup moves it to standalone; the operator still
 *   sees where it was).
 * - A volume in a drive keeps its home slot (`sourceSlot`) when the changer
 *   reports it, so unloading puts it back where the inventory said.
 * - A volume in an import/export slot is on its way in or out: not added;
 *   a known one leaves the robot (it is no longer in a storage slot), and
 *   it is reported.
 * - A full slot or drive without a barcode, or with one that is not a media
 *   id, and a barcode seen twice, are reported and change nothing.
 */
export function reconcileInventory(robot: string, known: readonly Media[], drives: readonly Pick<Drive, 'name' | 'index'>[], report: InventoryReport): InventoryPlan {
  const plan: InventoryPlan = { robot, add: [], move: [], leave: [], unchanged: [], problems: [] };
  const driveByIndex = new Map(drives.map((d) => [d.index, d.name]));
  const knownById = new Map(known.map((m) => [m.mediaId, m]));

  // Where each barcode is, from slots then drives; a barcode seen twice is ambiguous and left alone.
  const found = new Map<string, Place>();
  const seenTwice = new Set<string>();
  const note = (barcode: string | undefined, full: boolean | undefined, where: string, place: Place): void => {
    if (barcode === undefined || barcode === '') {
      if (full) plan.problems.push({ where, reason: 'holds a volume without a barcode: not added (label it, or add it by hand)' });
      return;
    }
    if (!MediaId.safeParse(barcode).success) {
      plan.problems.push({ where, reason: `barcode ${JSON.stringify(barcode)} is not a media id (1 to 16 letters or digits): not added` });
      return;
    }
    if (found.has(barcode) || seenTwice.has(barcode)) {
      seenTwice.add(barcode);
      plan.problems.push({ where, reason: `barcode ${barcode} is reported more than once: left as it is` });
      return;
    }
    found.set(barcode, place);
  };
  for (const s of report.slots) note(s.barcode, s.full, `slot ${s.slot}`, { slot: s.slot });
  for (const d of report.drives) {
    const name = driveByIndex.get(d.index);
    const where = name === undefined ? `drive index ${d.index}` : `drive ${name} (index ${d.index})`;
    if (name === undefined && (d.barcode || d.full)) {
      plan.problems.push({ where, reason: `the media manager has no drive with index ${d.index} in robot ${robot}: its volume is not recorded in a drive` });
    }
    note(d.barcode, d.full, where, { ...(d.sourceSlot === undefined ? {} : { slot: d.sourceSlot }), ...(name === undefined ? {} : { drive: name }) });
  }
  const inImportExport = new Set<string>();
  for (const s of report.importExport ?? []) {
    if (s.barcode === undefined || s.barcode === '') continue;
    inImportExport.add(s.barcode);
    plan.problems.push({ where: `import/export slot ${s.slot}`, reason: `volume ${s.barcode} is in an import/export slot: not in the robot until it is moved into a storage slot` });
  }
  for (const barcode of seenTwice) found.delete(barcode);

  for (const [mediaId, place] of found) {
    const media = knownById.get(mediaId);
    if (media === undefined) {
      plan.add.push({ mediaId, place, reason: `new volume at ${describePlace(place)}: added to the scratch pool` });
    } else if (media.robot === robot && media.slot === place.slot && media.drive === place.drive) {
      plan.unchanged.push(mediaId);
    } else {
      const from = media.robot === undefined ? 'outside the robot' : media.robot === robot ? describePlace(media) : `robot ${media.robot}`;
      plan.move.push({ mediaId, place, reason: `found at ${describePlace(place)}, recorded ${from}: moved` });
    }
  }
  for (const media of known) {
    if (media.robot !== robot || found.has(media.mediaId) || seenTwice.has(media.mediaId)) continue;
    const why = inImportExport.has(media.mediaId) ? 'is in an import/export slot' : 'is no longer in the library';
    plan.leave.push({ mediaId: media.mediaId, reason: `${why} (recorded at ${describePlace(media)}): moved outside robot ${robot}` });
  }
  return plan;
}

export function describePlace(place: Place): string {
  if (place.drive !== undefined) return place.slot === undefined ? `drive ${place.drive}` : `drive ${place.drive} (home slot ${place.slot})`;
  return place.slot === undefined ? 'no slot' : `slot ${place.slot}`;
}
