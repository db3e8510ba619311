import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { DriveElement, LibraryInventory } from '#core/model/library-inventory.ts';

/** A slot number as the library counts them (from 1); anything else is refused with 20 before the robot is asked. */
export function checkSlot(slot: number, what: string): number {
  if (!Number.isSafeInteger(slot) || slot < 1) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${what}: slot ${slot} is not a slot number (1, 2, ...)`);
  return slot;
}

/** A drive index (from 0), below `count` when the adapter knows how many drives there are. */
export function checkDrive(drive: number, what: string, count?: number): number {
  if (!Number.isSafeInteger(drive) || drive < 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${what}: drive ${drive} is not a drive index (0, 1, ...)`);
  if (count !== undefined && drive >= count) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${what}: drive ${drive} is not one of this library's ${count} drive${count === 1 ? '' : 's'} (0 to ${count - 1})`);
  }
  return drive;
}

/** The drive's element, or 20 when the library has no such drive. */
export function driveOf(inventory: LibraryInventory, drive: number, what: string): DriveElement {
  checkDrive(drive, what, inventory.drives.length);
  return inventory.drives.find((d) => d.index === drive) ?? { index: drive, full: false };
}

/** Where a drive's cartridge came from; 174 when the drive is empty or the library does not know. */
export function sourceSlotOf(drive: DriveElement, description: string): number {
  if (!drive.full) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `unload drive ${drive.index} (${description}): the drive is empty`);
  if (drive.sourceSlot === undefined) {
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `unload drive ${drive.index} (${description}): the library does not know which slot its cartridge${drive.barcode ? ` ${drive.barcode}` : ''} came from; name the slot`);
  }
  return drive.sourceSlot;
}
