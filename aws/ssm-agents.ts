import { CreateActivationCommand, ListTagsForResourceCommand, paginateDescribeInstanceInformation, type CreateActivationCommandInput, type SSMClient } from '@aws-sdk/client-ssm';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

/** The tag an activation (and so each instance registered with it) carries: the client it was made for. */
export const CLIENT_TAG = 'cairn:client';

export interface ActivationRequest {
  /** The agent role (stack output AgentRoleName): the registered host runs with its credentials. */
  role: string;
  client: string;
  /** The name the instance is listed under in Fleet Manager; default the client's name. */
  instanceName?: string;
  expires: Date;
}

/** CreateActivation's input: one registration, tagged with the client. */
export function createActivationInput(request: ActivationRequest): CreateActivationCommandInput {
  return {
    Description: `Cairn edge agent for client ${request.client}`,
    DefaultInstanceName: request.instanceName ?? request.client,
    IamRole: request.role,
    // One host per activation: a leaked code cannot register a fleet under the agent role.
    RegistrationLimit: 1,
    ExpirationDate: request.expires,
    Tags: [{ Key: CLIENT_TAG, Value: request.client }],
  };
}

export interface Activation {
  activationId: string;
  activationCode: string;
}

/** Creates an SSM hybrid activation; an SDK failure is status 20 naming the call and the reason (missing iam:PassRole, a bad role). */
export async function createActivation(ssm: SSMClient, request: ActivationRequest): Promise<Activation> {
  try {
    const out = await ssm.send(new CreateActivationCommand(createActivationInput(request)));
    if (!out.ActivationId || !out.ActivationCode) throw new Error('the answer has no activation id or code');
    return { activationId: out.ActivationId, activationCode: out.ActivationCode };
  } catch (error) {
    throw ssmFailure('CreateActivation', error);
  }
}

/** One managed instance as `cairn agent list` shows it. */
export interface ManagedInstance {
  instanceId: string;
  name?: string;
  pingStatus?: string;
  lastPing?: string;
  agentVersion?: string;
  platform?: string;
  /** The client its activation was made for (CLIENT_TAG), for hybrid instances. */
  activatedFor?: string;
}

/** Every managed instance of the account and region (DescribeInstanceInformation), with the activation's client tag of hybrid ones. */
export async function listManagedInstances(ssm: SSMClient): Promise<ManagedInstance[]> {
  const instances: ManagedInstance[] = [];
  try {
    for await (const page of paginateDescribeInstanceInformation({ client: ssm }, {})) {
      for (const info of page.InstanceInformationList ?? []) {
        if (!info.InstanceId) continue;
        instances.push({
          instanceId: info.InstanceId,
          name: info.Name ?? info.ComputerName,
          pingStatus: info.PingStatus,
          lastPing: info.LastPingDateTime?.toISOString(),
          agentVersion: info.AgentVersion,
          platform: [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ') || info.PlatformType,
        });
      }
    }
  } catch (error) {
    throw ssmFailure('DescribeInstanceInformation', error);
  }
  for (const instance of instances) {
    if (!instance.instanceId.startsWith('mi-')) continue;
    try {
      const tags = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: instance.instanceId }));
      instance.activatedFor = tags.TagList?.find((t) => t.Key === CLIENT_TAG)?.Value;
    } catch {
      // The tag only helps to tell new instances apart; without ssm:ListTagsForResource the list still shows everything else.
    }
  }
  return instances.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

function ssmFailure(action: string, error: unknown): CairnError {
  const reason = error instanceof Error ? error.message : String(error);
  return new CairnError(StatusCode.INVALID_COMMAND_USAGE, `ssm:${action} failed (${errorName(error) ?? 'error'}): ${reason}`, { cause: error });
}
