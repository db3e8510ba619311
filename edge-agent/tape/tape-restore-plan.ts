import type { RestorePlanner } from '#core/ports/restore-planner.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import { planImage } from '../restore/restore-plan.ts';
import { ProblemList } from '../reader/problems.ts';

/**
 * The RestorePlanner on restore's own plan (`planImage`: manifest and index
 * checked against the catalog, the selected paths matched, for a selective
 * restore only the index chunks that can hold them read). No fragment is
 * read. Lines the plan cannot trust are left to the Read, which reports
 * them as the restore does.
 */
export function indexRestorePlanner(openStore: StorageUnitOpener): RestorePlanner {
  return {
    async fragmentsFor(image, unit, paths) {
      const plan = await planImage({
        store: await openStore(unit),
        image,
        selection: paths.length === 0 ? { kind: 'all' } : { kind: 'paths', paths },
        failures: new ProblemList(),
      });
      return new Set(plan.fragments.map((f) => f.number));
    },
  };
}
