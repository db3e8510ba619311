import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ChangerScriptChanger } from '#agent/tape/changers/changer-script.ts';
import { tempDir } from '../helpers.ts';

/** Debian's bacula-sd virtual autochanger script (a library of files). */
export const DISK_CHANGER = '/etc/bacula/scripts/disk-changer';

/** Why the disk-changer tests cannot run here, or undefined. */
export function diskChangerSkipReason(): string | undefined {
  if (!existsSync(DISK_CHANGER)) return `${DISK_CHANGER} is missing (install bacula-sd)`;
  return undefined;
}

export interface DiskChangerLibrary {
  changer: ChangerScriptChanger;
  /** The base directory: changer.conf, barcodes, slotN volume files, driveN links, loadedN state. */
  base: string;
  changerDevice: string;
  drives: string[];
  cleanup: () => Promise<void>;
}

/** The default library: 8 slots, 2 drives; slots 4, 7 and 8 empty (4 is a gap in the barcodes file, 8 is maxslot). */
export const DEFAULT_BARCODES: Readonly<Record<number, string>> = { 1: 'CRN001L6', 2: 'CRN002L6', 3: 'CRN003L6', 5: 'CRN005L6', 6: 'CRN006L6' };

/**
 * A real disk-changer library in a temp directory, as disk-changer expects
 * it (read from the script): CHANGER-DEVICE is a shell file setting maxslot
 * (slots from 1) and maxdrive (the last drive index); the base directory is
 * the ARCHIVE-DEVICE's directory (`BASE/driveN`); a cartridge is a
 * `BASE/slotN` file; `BASE/barcodes` lists `slot:barcode` (listall prints
 * nothing without it). The script keeps `BASE/loadedN` and makes
 * `BASE/driveN` a link to the slot's file on load. It uses /var/lib/bacula
 * only for a debug log, when one exists there.
 */
export function diskChangerLibrary(options: { slots?: number; drives?: number; barcodes?: Readonly<Record<number, string>> } = {}): DiskChangerLibrary {
  const { dir: base, cleanup } = tempDir('disk-changer');
  const slots = options.slots ?? 8;
  const driveCount = options.drives ?? 2;
  const barcodes = options.barcodes ?? DEFAULT_BARCODES;
  mkdirSync(base, { recursive: true });
  const changerDevice = path.join(base, 'changer.conf');
  writeFileSync(changerDevice, `maxslot=${slots}\nmaxdrive=${driveCount - 1}\n`);
  writeFileSync(
    path.join(base, 'barcodes'),
    Object.entries(barcodes)
      .map(([slot, barcode]) => `${slot}:${barcode}\n`)
      .join(''),
  );
  for (const slot of Object.keys(barcodes)) writeFileSync(path.join(base, `slot${slot}`), '');
  const drives = Array.from({ length: driveCount }, (_, i) => path.join(base, `drive${i}`));
  const changer = new ChangerScriptChanger({ script: DISK_CHANGER, changerDevice, drives, timeoutMs: 30_000 });
  return { changer, base, changerDevice, drives, cleanup: async () => cleanup() };
}
