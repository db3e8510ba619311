import type { Changer } from '#core/ports/changer.ts';
import { ChangerError } from '#core/ports/changer.ts';
import { LibraryInventory, type DriveElement, type SlotElement } from '#core/model/library-inventory.ts';
import { checkDrive, checkSlot, sourceSlotOf } from './changer-arguments.ts';
import { parseCount, parseList, parseListall, type ListallLine } from './changer-script-output.ts';
import { SerialQueue, describeOutput, runChangerCommand, type RunOptions } from './run-command.ts';

export interface ChangerScriptOptions extends RunOptions {
  /** The changer script (mtx-changer, a vendor's script, disk-changer). */
  script: string;
  /** Its CHANGER-DEVICE argument: the changer's device for mtx-changer, a configuration file for disk-changer. */
  changerDevice: string;
  /**
   * The ARCHIVE-DEVICE of each drive, by drive index: `/dev/nstN` for a
   * real drive; for disk-changer `BASE/driveN`, the link the script points
   * at the slot's volume file on load.
   */
  drives: readonly string[];
}

/**
 * A library driven through a Bacula/Bareos changer script: the one
 * interface every existing changer script speaks, so any of them works
 * unchanged. Bacula calls it as
 *
 *   SCRIPT CHANGER-DEVICE COMMAND SLOT ARCHIVE-DEVICE DRIVE-INDEX
 *
 * (`Changer Command = "script %c %o %S %a %d"`) and so does this adapter,
 * always with all five arguments: slot 0 and drive 0's device where the
 * command needs none (`list`, `listall`, `slots`, as Bacula does); for
 * `transfer` the ARCHIVE-DEVICE argument is the destination slot. The
 * optional sixth argument (a volume name) is never passed: disk-changer
 * would create a volume file by that name.
 *
 * Exit 0 is success; anything else is a failure whose words the script
 * printed on stdout (mtx-changer and disk-changer echo their errors there):
 * a ChangerError keeps them.
 *
 * Inventory is `slots` then `listall`; what `listall` says of an element
 * wins. When it leaves out slots up to the `slots` count, `list` is asked
 * too, and a slot left out is full with the barcode `list` gives it (unless
 * a drive holds the cartridge from that slot), else empty. That repairs
 * disk-changer (bacula-sd 9.6), whose `listall` drops the full slot after
 * a gap in its barcodes file and never prints slot `maxslot`; mtx-changer
 * lists every slot and is never asked `list`. A drive `listall` does not
 * list (disk-changer's, before its first load) is asked with `loaded`. A
 * script that prints no `listall` line at all (disk-changer without a
 * `barcodes` file) is refused: Cairn needs the inventory with barcodes.
 */
export class ChangerScriptChanger implements Changer {
  readonly description: string;
  private readonly queue = new SerialQueue();

  constructor(private readonly options: ChangerScriptOptions) {
    if (options.drives.length === 0) throw new Error('a changer script library needs at least one drive');
    this.description = `${options.script} ${options.changerDevice}`;
  }

  async inventory(): Promise<LibraryInventory> {
    return this.queue.run(() => this.readInventory());
  }

  async loaded(drive: number): Promise<DriveElement> {
    this.checkDrive(drive, 'loaded');
    return this.queue.run(() => this.loadedIn(drive));
  }

  async load(slot: number, drive: number): Promise<void> {
    checkSlot(slot, 'load');
    this.checkDrive(drive, 'load');
    return this.queue.run(async () => {
      await this.run(`load slot ${slot} into drive ${drive}`, 'load', slot, this.options.drives[drive]!, drive);
    });
  }

  async unload(slot: number | 'source', drive: number): Promise<void> {
    if (slot !== 'source') checkSlot(slot, 'unload');
    this.checkDrive(drive, 'unload');
    return this.queue.run(async () => {
      const target = slot === 'source' ? sourceSlotOf(await this.loadedIn(drive), this.description) : slot;
      await this.run(`unload drive ${drive} into slot ${target}`, 'unload', target, this.options.drives[drive]!, drive);
    });
  }

  async transfer(from: number, to: number): Promise<void> {
    checkSlot(from, 'transfer');
    checkSlot(to, 'transfer');
    return this.queue.run(async () => {
      await this.run(`move slot ${from} to slot ${to}`, 'transfer', from, String(to), 0);
    });
  }

  private checkDrive(drive: number, what: string): void {
    checkDrive(drive, `${what} (${this.description})`, this.options.drives.length);
  }

  private async loadedIn(drive: number): Promise<DriveElement> {
    const { stdout, command, stderr } = await this.run(`what is in drive ${drive}`, 'loaded', 0, this.options.drives[drive]!, drive);
    const slot = parseCount(stdout);
    if (slot === undefined) throw this.unreadable(`what is in drive ${drive}`, command, stdout, stderr, 'expected the loaded slot number (0 when empty)');
    return slot === 0 ? { index: drive, full: false } : { index: drive, full: true, sourceSlot: slot };
  }

  private async readInventory(): Promise<LibraryInventory> {
    const what = 'read the inventory';
    const counted = await this.run(what, 'slots', 0, this.options.drives[0]!, 0);
    const slotCount = parseCount(counted.stdout);
    if (slotCount === undefined) throw this.unreadable(what, counted.command, counted.stdout, counted.stderr, 'expected the number of slots from `slots`');
    const listed = await this.run(what, 'listall', 0, this.options.drives[0]!, 0);
    const { lines, unreadable } = parseListall(listed.stdout);
    if (unreadable.length > 0) throw this.unreadable(what, listed.command, listed.stdout, listed.stderr, `cannot read the listall line${unreadable.length === 1 ? '' : 's'} ${unreadable.map((l) => `"${l}"`).join(', ')}`);
    if (lines.length === 0) {
      throw this.unreadable(what, listed.command, listed.stdout, listed.stderr, 'listall printed nothing (disk-changer prints nothing without a `barcodes` file in its directory)');
    }

    const drives: DriveElement[] = [];
    for (let index = 0; index < this.options.drives.length; index++) {
      const line = lines.find((l): l is Extract<ListallLine, { kind: 'drive' }> => l.kind === 'drive' && l.drive === index);
      drives.push(line ? driveElement(line) : await this.loadedIn(index));
    }
    const slots = new Map<number, SlotElement & { mail: boolean }>();
    for (const line of lines) {
      if (line.kind === 'drive') continue;
      slots.set(line.slot, { slot: line.slot, full: line.full, ...(line.barcode ? { barcode: line.barcode } : {}), mail: line.kind === 'mail' });
    }
    const leftOut = Array.from({ length: slotCount }, (_, i) => i + 1).filter((slot) => !slots.has(slot));
    if (leftOut.length > 0) {
      const homes = await this.homes(what, new Set(drives.flatMap((d) => (d.full && d.sourceSlot !== undefined ? [d.sourceSlot] : []))));
      for (const slot of leftOut) {
        const home = homes.get(slot);
        slots.set(slot, { slot, full: home !== undefined, ...(home?.barcode ? { barcode: home.barcode } : {}), mail: false });
      }
    }
    const ordered = [...slots.values()].sort((a, b) => a.slot - b.slot);
    const element = ({ mail: _mail, ...slot }: SlotElement & { mail: boolean }): SlotElement => slot;
    return LibraryInventory.parse({ drives, slots: ordered.filter((s) => !s.mail).map(element), mailSlots: ordered.filter((s) => s.mail).map(element) });
  }

  /** `list`: each cartridge's home slot, less the slots whose cartridge is in a drive. */
  private async homes(what: string, inDrives: ReadonlySet<number>): Promise<Map<number, { barcode?: string }>> {
    const listed = await this.run(what, 'list', 0, this.options.drives[0]!, 0);
    const { entries, unreadable } = parseList(listed.stdout);
    if (unreadable.length > 0) throw this.unreadable(what, listed.command, listed.stdout, listed.stderr, `cannot read the list line${unreadable.length === 1 ? '' : 's'} ${unreadable.map((l) => `"${l}"`).join(', ')}`);
    return new Map(entries.filter((e) => !inDrives.has(e.slot)).map((e) => [e.slot, e.barcode === undefined ? {} : { barcode: e.barcode }]));
  }

  private async run(what: string, command: string, slot: number, archiveDevice: string, drive: number): Promise<{ stdout: string; stderr: string; command: string[] }> {
    const args = [this.options.changerDevice, command, String(slot), archiveDevice, String(drive)];
    const output = await runChangerCommand(`${what} (${this.description})`, this.options.script, args, this.options);
    return { ...output, command: [this.options.script, ...args] };
  }

  private unreadable(what: string, command: string[], stdout: string, stderr: string, reason: string): ChangerError {
    return new ChangerError(`${what} (${this.description})`, { command, exitCode: 0, output: describeOutput(stderr, stdout), reason });
  }
}

function driveElement(line: Extract<ListallLine, { kind: 'drive' }>): DriveElement {
  if (!line.full) return { index: line.drive, full: false };
  return { index: line.drive, full: true, sourceSlot: line.sourceSlot, ...(line.barcode ? { barcode: line.barcode } : {}) };
}
