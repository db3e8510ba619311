import { duplicateImage, type DuplicateResult } from '#agent/duplicate/duplicate-image.ts';
import { messageOf } from '#core/errors.ts';
import { dueDuplicates } from '#core/schedule/duplicate-due.ts';
import type { CatalogStore } from '#core/ports/catalog-store.ts';
import type { Clock } from '#core/ports/clock.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import { openStorageUnit } from './open-storage-unit.ts';

/** Copies a tick makes at most: a backlog is worked off over several ticks, never holding one up for hours. */
export const DEFAULT_DUPLICATES_PER_TICK = 4;

export interface DuplicationRun {
  done: DuplicateResult[];
  /** Due copies left for the next tick (the bound). */
  deferred: number;
  /** What failed, as `image X to U: reason`; tried again at the next tick. */
  problems: string[];
}

/**
 * The standalone tick's duplication: the copies policies declare
 * (core/schedule/duplicate-due.ts), made in this process one after the
 * other (edge-agent/duplicate/), at most `max` per tick. A failure is
 * reported and the copy stays due: the next tick tries again, and finds
 * nothing catalogued of the failed attempt.
 */
export async function runDueDuplicates(runtime: { catalog: CatalogStore; config: Pick<ConfigStore, 'listPolicies' | 'getStorageUnit'>; clock: Clock }, max = DEFAULT_DUPLICATES_PER_TICK): Promise<DuplicationRun> {
  const [policies, images] = await Promise.all([runtime.config.listPolicies(), runtime.catalog.listImages()]);
  const due = dueDuplicates({ policies, images, now: runtime.clock.now() });
  const run: DuplicationRun = { done: [], deferred: Math.max(0, due.length - max), problems: [] };
  for (const entry of due.slice(0, max)) {
    try {
      run.done.push(await duplicateImage({ catalog: runtime.catalog, config: runtime.config, openStorageUnit }, { backupId: entry.backupId, to: entry.storageUnit, expiresAt: entry.expiresAt }));
    } catch (error) {
      run.problems.push(`image ${entry.backupId} to ${entry.storageUnit}: ${messageOf(error)}; tried again at the next tick`);
    }
  }
  return run;
}
