import type { DuplicateDeps } from '#agent/duplicate/duplicate-image.ts';
import { realTapeDevices, type TapeDevices } from '#agent/tape/mount.ts';
import { openStorageUnit } from './open-storage-unit.ts';
import { takeHolder } from './reservation-holders.ts';
import type { LocalRuntime } from './runtime.ts';

/**
 * What a duplicate needs in the standalone runtime: the catalog and
 * configuration, the storage units, and for a tape unit the broker's
 * stores, the media manager, this host's robots and drives, and a holder
 * for the drive and volumes that the janitor spares while this process
 * lives (reservation-holders.ts).
 */
export function localDuplicateDeps(runtime: Pick<LocalRuntime, 'catalog' | 'config' | 'media' | 'emm' | 'jobs' | 'home' | 'owner' | 'clock'>, options: { tapeDevices?: TapeDevices; onWait?: (reason: string) => void } = {}): DuplicateDeps {
  return {
    catalog: runtime.catalog,
    config: runtime.config,
    openStorageUnit,
    tape: {
      config: runtime.config,
      media: runtime.media,
      emm: runtime.emm,
      devices: options.tapeDevices ?? realTapeDevices,
      now: () => runtime.clock.now(),
      holder: () => takeHolder(runtime),
      ...(options.onWait ? { onWait: options.onWait } : {}),
    },
  };
}
