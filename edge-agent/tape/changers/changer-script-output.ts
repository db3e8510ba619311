/**
 * What Bacula's changer-script protocol prints, read by hand (the format is
 * a few colon-separated fields; no library parses it). From Bacula's
 * mtx-changer and disk-changer (bacula-sd 9.6):
 *
 *   listall   D:drive:F:slot:barcode   a full drive, loaded from `slot`
 *             D:drive:E                an empty drive
 *             S:slot:F:barcode         a full storage slot (barcode may be empty)
 *             S:slot:E                 an empty storage slot
 *             I:slot:F:barcode         a full import/export slot
 *             I:slot:E                 an empty import/export slot
 *   list      slot:barcode             every cartridge by its home slot, those in
 *                                      drives included (barcode may be empty)
 *   slots     the number of slots (import/export slots included)
 *   loaded    the slot whose cartridge is in the drive; 0 when it is empty
 *
 * disk-changer prints `D:n:F:0:` for a drive it has unloaded (its loadedN
 * file then says 0): a drive "loaded from slot 0" is empty.
 */
export type ListallLine =
  | { kind: 'drive'; drive: number; full: true; sourceSlot: number; barcode?: string }
  | { kind: 'drive'; drive: number; full: false }
  | { kind: 'slot' | 'mail'; slot: number; full: boolean; barcode?: string };

const LINE = /^([DSI]):(\d+):([EF])(?::(.*))?$/;

/** Reads `listall` output; returns the lines it cannot read separately, so the caller can name them. */
export function parseListall(text: string): { lines: ListallLine[]; unreadable: string[] } {
  const lines: ListallLine[] = [];
  const unreadable: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const match = LINE.exec(line);
    if (!match) {
      unreadable.push(line);
      continue;
    }
    const [, kind, number, state, rest = ''] = match;
    const full = state === 'F';
    if (kind === 'D') {
      const drive = Number(number);
      if (!full) {
        lines.push({ kind: 'drive', drive, full: false });
        continue;
      }
      const loaded = /^(\d+)(?::(.*))?$/.exec(rest);
      if (!loaded) {
        unreadable.push(line);
        continue;
      }
      const sourceSlot = Number(loaded[1]);
      const barcode = loaded[2]?.trim();
      lines.push(sourceSlot === 0 ? { kind: 'drive', drive, full: false } : { kind: 'drive', drive, full: true, sourceSlot, ...(barcode ? { barcode } : {}) });
    } else {
      const barcode = full ? rest.trim() : '';
      lines.push({ kind: kind === 'S' ? 'slot' : 'mail', slot: Number(number), full, ...(barcode ? { barcode } : {}) });
    }
  }
  return { lines, unreadable };
}

/** A whole non-negative number alone on the output (`slots`, `loaded`), or undefined. */
export function parseCount(text: string): number | undefined {
  const match = /^\s*(\d+)\s*$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Reads `list` output: each cartridge's home slot and barcode (absent when empty). */
export function parseList(text: string): { entries: { slot: number; barcode?: string }[]; unreadable: string[] } {
  const entries: { slot: number; barcode?: string }[] = [];
  const unreadable: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const match = /^(\d+):(.*)$/.exec(line);
    if (!match) {
      unreadable.push(line);
      continue;
    }
    const barcode = match[2]!.trim();
    entries.push({ slot: Number(match[1]), ...(barcode ? { barcode } : {}) });
  }
  return { entries, unreadable };
}
