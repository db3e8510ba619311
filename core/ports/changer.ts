import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import type { DriveElement, LibraryInventory } from '../model/library-inventory.ts';

/**
 * A tape library's robot (NetBackup's tldcd): it reports what is where and
 * moves cartridges between slots and drives. It does not read or write
 * tape: a loaded drive is opened through the TapeDrive port
 * (core/ports/tape-drive.ts). Two adapters behind one contract suite
 * (test/contracts/changer-contract.ts): `mtx` on a SCSI medium changer
 * (edge-agent/tape/changers/mtx-changer.ts) and the Bacula/Bareos
 * changer-script protocol (edge-agent/tape/changers/changer-script.ts), so
 * mtx-changer, vendor scripts and disk-changer (a virtual library of files)
 * all drive a library.
 *
 * Numbering is the library's: drives from 0, slots from 1, mail slots in the
 * slots' sequence (see core/model/library-inventory.ts).
 *
 * Contract:
 * - One robot, one move at a time: an adapter runs its calls one after the
 *   other, in call order. It does not coordinate with other processes
 *   driving the same library; the broker's drive reservations do that.
 * - A move that resolves has happened: the next `inventory()` shows it
 *   (load: the drive full with the slot's barcode, the slot empty;
 *   unload: the reverse; transfer: the cartridge in its new slot).
 * - A move that rejects rejects with a ChangerError naming the command, its
 *   exit code and what the robot said. Whether the cartridge moved is then
 *   unknown in general (a robot can fail half way): take a new inventory
 *   before deciding anything.
 * - Moves are not idempotent: loading a full drive, unloading an empty
 *   one, moving from an empty slot or into a full one are refused by the
 *   library (ChangerError). A caller that retries checks `loaded()` first.
 * - A drive that needs it must be taken offline (TapeDrive.eject) before
 *   `unload`; the changer does not touch the drive's device.
 * - A bad argument (slot < 1, a drive the adapter does not know) is refused
 *   before anything runs, with status 20.
 */
export interface Changer {
  /** How this changer is reached, for messages ("mtx -f /dev/sg3", "disk-changer /srv/vtl/changer.conf"). */
  readonly description: string;

  /** Every drive, storage slot and mail slot, with barcodes where the library reads them. */
  inventory(): Promise<LibraryInventory>;
  /** What is in one drive (the drive's element of the inventory; a changer script may know only the source slot). */
  loaded(drive: number): Promise<DriveElement>;
  /** Moves the cartridge in `slot` into drive `drive`. */
  load(slot: number, drive: number): Promise<void>;
  /**
   * Moves the cartridge in drive `drive` into `slot`, or back to the slot it
   * came from with 'source' (refused with a ChangerError when the library
   * does not know it).
   */
  unload(slot: number | 'source', drive: number): Promise<void>;
  /** Moves the cartridge in slot `from` to the empty slot `to` (mail slots included: import and export). */
  transfer(from: number, to: number): Promise<void>;
}

/** A changer command that failed, or answered something the adapter cannot read. */
export interface ChangerFailure {
  /** The command line that was run, as argv (program first). */
  command: readonly string[];
  /** Its exit code; undefined when it was killed (see `signal`) or could not start. */
  exitCode?: number;
  signal?: string;
  /** What it printed (stderr, then stdout), trimmed and cut to a few KiB. */
  output: string;
  /** Why the adapter calls it a failure when the exit code alone does not say (a timeout, output it cannot read). */
  reason?: string;
}

/**
 * A robot operation that failed: status 174 (media manager - system error
 * occurred), as NetBackup reports robotic errors to a job. The message names
 * the command, its exit code and what it printed, so the operator sees the
 * library's own words ("source Element Address 3 is Empty").
 */
export class ChangerError extends CairnError implements ChangerFailure {
  readonly command: readonly string[];
  readonly exitCode?: number;
  readonly signal?: string;
  readonly output: string;
  readonly reason?: string;

  constructor(what: string, failure: ChangerFailure, options: { cause?: unknown } = {}) {
    const how = failure.exitCode !== undefined ? `exit code ${failure.exitCode}` : failure.signal ? `killed by ${failure.signal}` : 'did not run';
    const why = failure.reason ? `${failure.reason}, ` : '';
    const said = failure.output ? `: ${failure.output}` : '';
    super(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `${what}: \`${failure.command.join(' ')}\` failed (${why}${how})${said}`, options);
    this.name = 'ChangerError';
    this.command = failure.command;
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.output = failure.output;
    this.reason = failure.reason;
  }
}
