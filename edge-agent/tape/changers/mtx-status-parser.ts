import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { LibraryInventory, type DriveElement, type SlotElement } from '#core/model/library-inventory.ts';

/**
 * Reads `mtx status` output (mtx 1.3, mtx.c `Status()`), hand-written
 * because no npm package parses it. The lines it prints:
 *
 *     Storage Changer /dev/sg3:2 Drives, 24 Slots ( 1 Import/Export )
 *   Data Transfer Element 0:Full (Storage Element 3 Loaded):VolumeTag = A00003L5
 *   Data Transfer Element 1:Full (Unknown Storage Element Loaded)
 *   Data Transfer Element 2:Empty
 *         Storage Element 1:Full :VolumeTag=A00001L5:AlternateVolumeTag=...
 *         Storage Element 2:Full
 *         Storage Element 24 IMPORT/EXPORT:Empty
 *
 * Drives take ` = ` in their tags, slots `=`; tags are padded with spaces
 * by many libraries; a slot without a tag is a library without a barcode
 * reader or an unlabelled cartridge. The "Slots" count includes the
 * import/export slots, which mtx numbers after the storage slots. Lines mtx
 * prints around the status (Request Sense dumps, "Mode sense ... failed")
 * are skipped; a line that starts like an element but cannot be read is an
 * error, so an element is never dropped silently. When the header is there,
 * the element counts must match it (a cut-off output is refused).
 */
export function parseMtxStatus(text: string): LibraryInventory {
  let header: { drives: number; slots: number; mailSlots: number } | undefined;
  const drives: DriveElement[] = [];
  const slots: SlotElement[] = [];
  const mailSlots: SlotElement[] = [];

  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('Storage Changer ')) {
      const counts = HEADER.exec(line);
      // Some builds print the header without counts; the elements still say everything.
      if (counts) header = { drives: Number(counts[1]), slots: Number(counts[2]), mailSlots: Number(counts[3]) };
    } else if (line.startsWith('Data Transfer Element')) {
      drives.push(parseDrive(line, drives.length));
    } else if (line.startsWith('Storage Element')) {
      const { element, mail } = parseSlot(line);
      (mail ? mailSlots : slots).push(element);
    }
  }

  if (!header && drives.length === 0 && slots.length === 0 && mailSlots.length === 0) throw unreadable('it has no "Storage Changer" header and no element lines', text);
  if (header) {
    const listed = { drives: drives.length, slots: slots.length + mailSlots.length, mailSlots: mailSlots.length };
    if (listed.drives !== header.drives || listed.slots !== header.slots || listed.mailSlots !== header.mailSlots) {
      throw unreadable(
        `the header says ${header.drives} drives, ${header.slots} slots (${header.mailSlots} import/export) but ${listed.drives} drives, ${listed.slots} slots (${listed.mailSlots} import/export) are listed`,
        text,
      );
    }
  }
  const byIndex = (a: DriveElement, b: DriveElement) => a.index - b.index;
  const bySlot = (a: SlotElement, b: SlotElement) => a.slot - b.slot;
  return LibraryInventory.parse({ drives: drives.sort(byIndex), slots: slots.sort(bySlot), mailSlots: mailSlots.sort(bySlot) });
}

const HEADER = /:(\d+) Drives, (\d+) Slots \( (\d+) Import\/Export \)$/;
// mtx 1.2 printed "Data Transfer Element:Empty" for a single drive: the index is then the line's position.
const DRIVE = /^Data Transfer Element(?: (\d+))?:(Empty|Full)(?: \((?:Storage Element (\d+)|Unknown Storage Element) Loaded\))?(.*)$/;
const SLOT = /^Storage Element (\d+)( IMPORT\/EXPORT)?:(Empty|Full)(.*)$/;
const TAGS = /^\s*(?::VolumeTag\s*=\s*(.*?))?\s*(?::AlternateVolumeTag\s*=\s*(.*?))?\s*$/;

function parseDrive(line: string, position: number): DriveElement {
  const match = DRIVE.exec(line);
  const tags = match && TAGS.exec(match[4]!);
  if (!match || !tags) throw unreadable(`cannot read the drive line "${line}"`);
  const full = match[2] === 'Full';
  return {
    index: match[1] === undefined ? position : Number(match[1]),
    full,
    ...(full && match[3] !== undefined ? { sourceSlot: Number(match[3]) } : {}),
    ...(full ? barcodes(tags) : {}),
  };
}

function parseSlot(line: string): { element: SlotElement; mail: boolean } {
  const match = SLOT.exec(line);
  const tags = match && TAGS.exec(match[4]!);
  if (!match || !tags) throw unreadable(`cannot read the slot line "${line}"`);
  const full = match[3] === 'Full';
  // Some libraries keep reporting the tag of a slot's last cartridge once it is empty: only a full slot has a barcode.
  return { element: { slot: Number(match[1]), full, ...(full ? barcodes(tags) : {}) }, mail: match[2] !== undefined };
}

function barcodes(tags: RegExpExecArray): { barcode?: string; alternateBarcode?: string } {
  const barcode = tags[1]?.trim();
  const alternate = tags[2]?.trim();
  return { ...(barcode ? { barcode } : {}), ...(alternate ? { alternateBarcode: alternate } : {}) };
}

function unreadable(problem: string, text?: string): CairnError {
  const excerpt = text === undefined ? '' : `: ${text.trim().slice(0, 200) || '(empty output)'}`;
  return new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot read mtx status output: ${problem}${excerpt}`);
}
