import type { Policy } from '../model/policy.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import { agentInstanceOf, requireAgentInstance } from '../clients/agent-instance.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * The managed instance a granted job's agent commands go to in the cloud
 * runtime (`$.reservation.agentInstanceId`: the Mount, Stream and Unmount
 * states all send there).
 *
 * A disk or S3 unit's job runs on its client's agent. A tape unit's job runs
 * on the agent of the robot's client (Robot.client, `cairn robot add
 * --client`): the only host that can move the robot and write the drives.
 * The agent reads the selections where it runs, so the job's client must be
 * served by that same instance; a client on another host would have the
 * library's host back up its own files under the client's name, so it is
 * refused (219) before anything is reserved, naming both instances. A robot
 * with no client, or whose client is mapped to no instance, fails with 48 as
 * an unmapped backup client does.
 *
 * A unit whose robot the media manager does not know (or a broker without a
 * media manager) is left to the broker's own checks (219, 174).
 */
export async function jobAgentInstance(
  deps: { config: ConfigStore; emm?: MediaDatabase },
  job: { client: string },
  policy: Policy | undefined,
  unit: StorageUnit,
): Promise<string> {
  const clientInstance = await requireAgentInstance(deps.config, job.client, policy);
  if (unit.kind !== 'tape' || deps.emm === undefined) return clientInstance;
  const robot = await deps.emm.getRobot(unit.robot);
  if (robot === undefined) return clientInstance;
  if (robot.client === undefined) {
    throw new CairnError(
      StatusCode.CLIENT_NOT_FOUND,
      `robot ${robot.name} of storage unit ${unit.name} names no client whose agent drives it: record it again with \`cairn --aws robot add ${robot.name} ... --client NAME\``,
    );
  }
  const found = await agentInstanceOf(deps.config, robot.client, undefined);
  if (found.instanceId === undefined) throw new CairnError(StatusCode.CLIENT_NOT_FOUND, `robot ${robot.name} is driven by the agent of client ${robot.client}, which has no instance: ${found.reason}`);
  if (found.instanceId !== clientInstance) {
    throw new CairnError(
      StatusCode.STORAGE_UNIT_UNAVAILABLE,
      `storage unit ${unit.name} writes to robot ${robot.name}, attached to instance ${found.instanceId} (client ${robot.client}); client ${job.client} runs on instance ${clientInstance}: an agent writes tape only on the host the library is attached to`,
    );
  }
  return found.instanceId;
}
