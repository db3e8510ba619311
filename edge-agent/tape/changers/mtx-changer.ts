import type { Changer } from '#core/ports/changer.ts';
import { ChangerError } from '#core/ports/changer.ts';
import { CairnError } from '#core/errors.ts';
import type { DriveElement, LibraryInventory } from '#core/model/library-inventory.ts';
import { checkDrive, checkSlot, driveOf, sourceSlotOf } from './changer-arguments.ts';
import { parseMtxStatus } from './mtx-status-parser.ts';
import { SerialQueue, describeOutput, runChangerCommand, type RunOptions } from './run-command.ts';

export interface MtxChangerOptions extends RunOptions {
  /** The changer's SCSI generic device (`/dev/sgN`, or a `/dev/tape/by-id/...` link to it). */
  device: string;
  /** The mtx program (default `mtx`, found on PATH). */
  mtx?: string;
}

/**
 * A SCSI medium changer through `mtx -f DEVICE status|load|unload|transfer`
 * (mtx 1.3). mtx reads the element status afresh on every call, so each
 * command sees the library as it is. mtx itself refuses impossible moves
 * ("Drive 0 Full (Storage Element 3 loaded)", "source Element Address 5 is
 * Empty") with a non-zero exit: those become ChangerErrors with its words.
 */
export class MtxChanger implements Changer {
  readonly description: string;
  private readonly queue = new SerialQueue();
  private readonly mtx: string;

  constructor(private readonly options: MtxChangerOptions) {
    this.mtx = options.mtx ?? 'mtx';
    this.description = `mtx -f ${options.device}`;
  }

  async inventory(): Promise<LibraryInventory> {
    return this.queue.run(() => this.status());
  }

  async loaded(drive: number): Promise<DriveElement> {
    checkDrive(drive, 'loaded');
    return this.queue.run(async () => driveOf(await this.status(), drive, `what is in drive ${drive}`));
  }

  async load(slot: number, drive: number): Promise<void> {
    checkSlot(slot, 'load');
    checkDrive(drive, 'load');
    return this.queue.run(() => this.move(`load slot ${slot} into drive ${drive}`, ['load', String(slot), String(drive)]));
  }

  async unload(slot: number | 'source', drive: number): Promise<void> {
    if (slot !== 'source') checkSlot(slot, 'unload');
    checkDrive(drive, 'unload');
    return this.queue.run(async () => {
      // `mtx unload` without a slot would take drive 0: the source slot is looked up, and the move names both.
      const target = slot === 'source' ? sourceSlotOf(driveOf(await this.status(), drive, `unload drive ${drive}`), this.description) : slot;
      await this.move(`unload drive ${drive} into slot ${target}`, ['unload', String(target), String(drive)]);
    });
  }

  async transfer(from: number, to: number): Promise<void> {
    checkSlot(from, 'transfer');
    checkSlot(to, 'transfer');
    return this.queue.run(() => this.move(`move slot ${from} to slot ${to}`, ['transfer', String(from), String(to)]));
  }

  private async status(): Promise<LibraryInventory> {
    const args = ['-f', this.options.device, 'status'];
    const what = `read the inventory of ${this.description}`;
    const { stdout, stderr } = await runChangerCommand(what, this.mtx, args, this.options);
    try {
      return parseMtxStatus(stdout);
    } catch (error) {
      if (!(error instanceof CairnError)) throw error;
      throw new ChangerError(what, { command: [this.mtx, ...args], exitCode: 0, output: describeOutput(stderr, stdout), reason: error.message }, { cause: error });
    }
  }

  private async move(what: string, command: string[]): Promise<void> {
    await runChangerCommand(`${what} (${this.description})`, this.mtx, ['-f', this.options.device, ...command], this.options);
  }
}
