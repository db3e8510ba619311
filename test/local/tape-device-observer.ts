import { AsyncLocalStorage } from 'node:async_hooks';
import { readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import type { Changer } from '#core/ports/changer.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';

/** One open of a drive by a job: which volume (the slot file the drive's link points at) and when. */
export interface DriveUse {
  job: string;
  drive: string;
  volume: string;
  from: number;
  to?: number;
}

/**
 * The real changer and drives, watched: which job (`run(job, ...)`, carried
 * through the job's async calls by AsyncLocalStorage) has which drive open
 * and which volume in it (for disk-changer, the `slotN` file the drive's
 * link points at) at each moment, and every robot move. A violation is
 * recorded when a drive is opened while open, a volume is open in two
 * drives, the robot moves a cartridge in or out of a drive that is open,
 * or loads a cartridge that is in another drive.
 */
export class TapeDeviceObserver implements TapeDevices {
  readonly uses: DriveUse[] = [];
  readonly violations: string[] = [];
  readonly moves: { job: string; move: string }[] = [];
  readonly #job = new AsyncLocalStorage<string>();
  /** The uses open now (more than one on a drive or a volume is a violation, and all are kept). */
  readonly #open = new Set<DriveUse>();
  /** Drive index → the slot the robot put in it, from the moves seen (the library starts empty). */
  readonly #inDrive = new Map<number, number>();

  run<T>(job: string, body: () => Promise<T>): Promise<T> {
    return this.#job.run(job, body);
  }

  get openNow(): DriveUse[] {
    return [...this.#open.values()];
  }

  openChanger: TapeDevices['openChanger'] = (robot) => {
    const changer = realTapeDevices.openChanger(robot);
    const pathOf = (index: number): string | undefined => robot.drives.find((d) => d.index === index)?.path;
    const busy = (index: number): DriveUse | undefined => [...this.#open.values()].find((u) => u.drive === pathOf(index));
    const watched: Changer = {
      description: changer.description,
      inventory: () => changer.inventory(),
      loaded: (drive) => changer.loaded(drive),
      load: async (slot, drive) => {
        const job = this.#current();
        this.moves.push({ job, move: `load slot ${slot} into drive ${drive}` });
        const user = busy(drive);
        if (user) this.violations.push(`${job} loads slot ${slot} into drive ${drive} while ${user.job} has it open`);
        for (const [other, held] of this.#inDrive) if (held === slot && other !== drive) this.violations.push(`${job} loads slot ${slot} into drive ${drive} while it is in drive ${other}`);
        await changer.load(slot, drive);
        this.#inDrive.set(drive, slot);
      },
      unload: async (slot, drive) => {
        const job = this.#current();
        this.moves.push({ job, move: `unload drive ${drive} to ${slot}` });
        const user = busy(drive);
        if (user) this.violations.push(`${job} unloads drive ${drive} while ${user.job} has it open`);
        await changer.unload(slot, drive);
        this.#inDrive.delete(drive);
      },
      transfer: (from, to) => changer.transfer(from, to),
    };
    return watched;
  };

  openDrive: TapeDevices['openDrive'] = async (access) => {
    const job = this.#current();
    const volume = volumeIn(access.path);
    const now = performance.now();
    for (const use of this.#open) {
      if (use.drive === access.path) this.violations.push(`${job} opens drive ${access.name} while ${use.job} has it open`);
      else if (use.volume === volume) this.violations.push(`${job} opens volume ${volume} in ${access.name} while ${use.job} has it open in ${use.drive}`);
    }
    const drive = await realTapeDevices.openDrive(access);
    const use: DriveUse = { job, drive: access.path, volume, from: now };
    this.uses.push(use);
    this.#open.add(use);
    let closed = false;
    return new Proxy(drive, {
      get: (target, property) => {
        if (property === 'close') {
          return async () => {
            if (!closed) {
              closed = true;
              use.to = performance.now();
              this.#open.delete(use);
            }
            await target.close();
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        // Methods run on the drive itself: its private fields are not the proxy's.
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as TapeDrive;
  };

  #current(): string {
    return this.#job.getStore() ?? 'no job';
  }
}

/** The volume in a disk-changer drive: the slot file its link points at. */
function volumeIn(drivePath: string): string {
  try {
    return basename(readlinkSync(drivePath));
  } catch {
    return '(nothing loaded)';
  }
}
