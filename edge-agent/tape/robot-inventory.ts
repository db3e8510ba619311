import type { InventoryReport } from '#core/media/inventory.ts';
import type { LibraryInventory } from '#core/model/library-inventory.ts';
import type { InventoryResult, MediaDatabase } from '#core/ports/media-manager.ts';
import type { InventoryResult as AgentInventoryResult, InventoryTask } from '#core/model/tape-task.ts';
import { NotFoundError } from '#core/errors.ts';
import { openChanger } from './open-changer.ts';
import { realTapeDevices, type TapeDevices } from './mount.ts';

/** The part of a changer's inventory the media manager reconciles: slots, drives and mail slots with their barcodes. */
export function inventoryReportOf(library: LibraryInventory): InventoryReport {
  const slot = (s: LibraryInventory['slots'][number]) => ({ slot: s.slot, full: s.full, ...(s.barcode === undefined ? {} : { barcode: s.barcode }) });
  return {
    slots: library.slots.map(slot),
    drives: library.drives.map((d) => ({ index: d.index, full: d.full, ...(d.barcode === undefined ? {} : { barcode: d.barcode }), ...(d.sourceSlot === undefined ? {} : { sourceSlot: d.sourceSlot }) })),
    importExport: library.mailSlots.map(slot),
  };
}

/**
 * vmupdate on the host the library is attached to: reads the robot's
 * changer (as the media manager records it) and applies the reconciliation
 * to the media manager. Runs where the changer device or script is: the
 * standalone runtime in process, or a host attached to the library.
 * A robot that does not exist is a NotFoundError (219); a changer that
 * fails is a ChangerError (174) and changes nothing.
 */
export async function takeInventory(emm: MediaDatabase, robotName: string, at: Date): Promise<InventoryResult> {
  const robot = await emm.getRobot(robotName);
  if (robot === undefined) throw new NotFoundError('robot', robotName);
  const changer = openChanger(robot, await emm.listDrives(robotName));
  const library = await changer.inventory();
  return emm.applyInventory(robotName, inventoryReportOf(library), at);
}

/**
 * The agent's side of `cairn --aws robot inventory` (an `inventory` command
 * sent through SSM to the robot's host): reads the changer the task names
 * and reports what it holds. It changes nothing, in the library or in the
 * media manager, which the sender updates from the report. A changer that
 * fails is a ChangerError (174).
 */
export async function runInventory(task: InventoryTask, devices: TapeDevices = realTapeDevices): Promise<AgentInventoryResult> {
  const library = await devices.openChanger(task.robot).inventory();
  const report = inventoryReportOf(library);
  return { robot: task.robot.name, report: { slots: [...report.slots], drives: [...report.drives], importExport: [...(report.importExport ?? [])] } };
}
