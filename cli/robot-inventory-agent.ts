import { z } from 'zod';
import { requireAgentInstance } from '#core/clients/agent-instance.ts';
import { CairnError, NotFoundError } from '#core/errors.ts';
import { InventoryCommand } from '#core/model/agent-command.ts';
import { InventoryResult } from '#core/model/tape-task.ts';
import type { InventoryResult as AppliedInventory } from '#core/ports/media-manager.ts';
import { StatusCode } from '#core/status-codes.ts';
import { parseOrThrow } from '#core/validation.ts';
import type { Backend, GlobalOptions } from './backend-interface.ts';

/** The agent's answer on stdout (edge-agent/transport/main.ts run-command): its result, or the status it failed with. */
const AgentAnswer = z.union([z.object({ result: z.unknown() }).strict(), z.object({ statusCode: z.number().int(), message: z.string() }).strict()]);

/**
 * `cairn --aws robot inventory NAME`: the changer is read by the agent of the
 * robot's client (Robot.client), sent an `inventory` command through SSM
 * (the RunAgentCommand document), and its report is applied to the media
 * manager here, with the operator's credentials (the agent never writes the
 * media database). A robot whose client has no instance fails with 48 before
 * anything is sent; the agent's own failure keeps its status (a changer
 * that fails: 174).
 */
export async function inventoryThroughAgent(backend: Backend, globals: GlobalOptions, name: string): Promise<AppliedInventory> {
  const robot = await backend.emm.getRobot(name);
  if (robot === undefined) throw new NotFoundError('robot', name);
  if (robot.client === undefined) {
    throw new CairnError(StatusCode.CLIENT_NOT_FOUND, `robot ${name} names no client whose agent drives it: on the library's host run \`cairn --aws robot inventory ${name} --on-this-host\`, or record the robot again with --client`);
  }
  const instanceId = await requireAgentInstance(backend.config, robot.client, undefined);
  const drives = (await backend.emm.listDrives(name)).map((d) => ({ index: d.index, path: d.path }));
  const command = InventoryCommand.parse({ kind: 'inventory', task: { robot: { name, changer: robot.changer, drives } } });

  const { createAwsClients } = await import('#aws/clients.ts');
  const { resolveAgentCommandDocument } = await import('#aws/deployment-outputs.ts');
  const { runAgentCommand } = await import('#aws/ssm-agent-command.ts');
  const documentName = await resolveAgentCommandDocument(globals);
  const clients = createAwsClients({ region: globals.region, endpoint: globals.endpoint, profile: globals.profile });
  let stdout: string;
  try {
    stdout = await runAgentCommand(clients.ssm, { documentName, instanceId, command });
  } finally {
    clients.destroy();
  }
  const answer = parseAnswer(stdout, instanceId);
  if ('statusCode' in answer) throw new CairnError(answer.statusCode as never, `the agent on ${instanceId} (client ${robot.client}): ${answer.message}`);
  const result = parseOrThrow(InventoryResult, answer.result, `inventory of robot ${name} from ${instanceId}`, StatusCode.SYSTEM_ERROR_DURING_RESTORE);
  if (result.robot !== name) throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `the agent on ${instanceId} answered for robot ${result.robot}, not ${name}`);
  return backend.emm.applyInventory(name, result.report, backend.clock.now());
}

/** The last line of stdout is the answer (anything the host printed before it is not). */
function parseAnswer(stdout: string, instanceId: string): z.output<typeof AgentAnswer> {
  const line = stdout.trim().split('\n').pop() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `the agent on ${instanceId} answered something that is not its JSON answer (SSM keeps 24,000 characters of output: a larger library is cut off; run the inventory with --on-this-host there): ${line.slice(0, 200)}`);
  }
  return parseOrThrow(AgentAnswer, value, `answer of the agent on ${instanceId}`, StatusCode.SYSTEM_ERROR_DURING_RESTORE);
}
