import { parseOperatorCommand } from '#core/model/agent-command.ts';
import type { InventoryResult, UnmountResult } from '#core/model/tape-task.ts';
import { realTapeDevices, runUnmount, type TapeDevices } from '../tape/mount.ts';
import { runInventory } from '../tape/robot-inventory.ts';
import { probeLocalFileSystems, type ProbeResult } from '../probe/probe.ts';

/** What an operator's command answers: its result, printed as one line of JSON. */
export type OperatorCommandResult = InventoryResult | UnmountResult | ProbeResult | DeleteSnapshotResult;

/** How many left-out mounts a probe's answer lists (the rest are counted). */
export const PROBE_SKIPPED_LISTED = 40;
import type { DeleteSnapshotResult } from '#core/model/snapshot-task.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { deleteJobSnapshots, type SnapshotAgent } from '../snapshot/job-snapshots.ts';

/**
 * The agent entry for an operator's command (`cairn-agent run-command`, run by
 * the RunAgentCommand document: a library inventory, an idle drive's unload):
 * no workflow waits for it and there is no
 * task token or job; the result goes to stdout, which SSM keeps for the
 * sender (GetCommandInvocation). A kind that is not an operator's, a bad
 * payload (20) or a failure of the work rejects with its CairnError.
 */
export async function runOperatorCommand(text: string, devices: TapeDevices = realTapeDevices, snapshots?: SnapshotAgent): Promise<OperatorCommandResult> {
  const command = parseOperatorCommand(text);
  switch (command.kind) {
    case 'inventory':
      return runInventory(command.task, devices);
    // The cloud scheduler's idle unload: the drive's volume back to its slot (no-op for an empty drive).
    case 'unmount':
      return runUnmount(command.task, devices);
    // A multiple-data-streams parent's savefs probe: this host's local file systems, for ALL.
    case 'probe': {
      // SSM keeps 24,000 characters of output: a host with hundreds of container mounts lists only the first it left out.
      const probed = await probeLocalFileSystems();
      return probed.skipped.length <= PROBE_SKIPPED_LISTED ? probed : { ...probed, skipped: probed.skipped.slice(0, PROBE_SKIPPED_LISTED), skippedTotal: probed.skipped.length };
    }
    // The cloud janitor's removal of the images of a job whose execution was stopped or timed out.
    case 'delete-snapshot':
      if (snapshots === undefined) throw new CairnError(StatusCode.SNAPSHOT_ERROR, 'this agent was started without a state directory: it has no snapshot registry to delete from');
      return deleteJobSnapshots(command.task, snapshots);
  }
}
