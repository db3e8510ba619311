import { chooseSnapshotMethod, openSnapshotProviders } from './open-snapshot-providers.ts';
import type { SnapshotAgent } from './job-snapshots.ts';
import { currentProcess, isProcessAlive } from './process-identity.ts';
import { SnapshotRegistry } from './snapshot-registry.ts';

/**
 * The agent's snapshot work on this host, as its entry points wire it: the
 * registry in the agent's state directory (`<state dir>/snapshots/`), the
 * real providers, this process as the owner of what it makes, the host's
 * clock. `overrides` replaces parts (tests give other providers' wrappers).
 */
export function openSnapshotAgent(stateDir: string, overrides: Partial<SnapshotAgent> = {}): SnapshotAgent {
  return {
    registry: new SnapshotRegistry(stateDir),
    openProviders: (options) => openSnapshotProviders(options),
    choose: (path, providers) => chooseSnapshotMethod(path, providers),
    owner: currentProcess(),
    isAlive: isProcessAlive,
    now: () => new Date(),
    ...overrides,
  };
}
