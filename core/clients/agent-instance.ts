import type { Policy } from '../model/policy.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * Where a client's backup commands go in the cloud runtime: the SSM managed
 * instance of its edge agent.
 *
 * Precedence: the client mapping (`cairn client add NAME --instance ID`,
 * ConfigStore.putClient) is the authority. A policy client's
 * `agentInstanceId` is the older, per-policy way to say the same thing and
 * is used only for a client with no mapping. The two must agree: writing a
 * policy or a mapping that contradicts the other is refused
 * (policyInstanceConflicts, clientInstanceConflicts), and a disagreement
 * found at run time (records written before this rule, or past the CLI)
 * fails the job with status 230 rather than send one host's backup to
 * another host.
 */
export type AgentInstance = { instanceId: string; source: 'client' | 'policy' } | { instanceId: undefined; reason: string };

export async function agentInstanceOf(config: ConfigStore, client: string, policy: Policy | undefined): Promise<AgentInstance> {
  const mapped = await config.getClient(client);
  const fromPolicy = policy?.clients.find((c) => c.name === client)?.agentInstanceId;
  if (mapped && fromPolicy && mapped.instanceId !== fromPolicy) {
    throw new CairnError(
      StatusCode.INVALID_POLICY,
      `client ${client} is mapped to instance ${mapped.instanceId} but policy ${policy!.name} gives it agentInstanceId ${fromPolicy}: make them agree (cairn client add ${client} --instance ..., or fix the policy)`,
    );
  }
  if (mapped) return { instanceId: mapped.instanceId, source: 'client' };
  if (fromPolicy) return { instanceId: fromPolicy, source: 'policy' };
  return {
    instanceId: undefined,
    reason: `client ${client} has no agent instance: map it to the SSM managed instance its agent runs on with \`cairn --aws client add ${client} --instance mi-...\` (cairn --aws agent list shows the instances)`,
  };
}

/** The managed instance, or status 48 (client hostname could not be found) saying how to map the client. */
export async function requireAgentInstance(config: ConfigStore, client: string, policy: Policy | undefined): Promise<string> {
  const found = await agentInstanceOf(config, client, policy);
  if (found.instanceId === undefined) throw new CairnError(StatusCode.CLIENT_NOT_FOUND, found.reason);
  return found.instanceId;
}

/** Problems (`path: reason`) of a policy whose clients' agentInstanceId contradicts their mapping. */
export async function policyInstanceConflicts(config: ConfigStore, policy: Policy): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, client] of policy.clients.entries()) {
    if (client.agentInstanceId === undefined) continue;
    const mapped = await config.getClient(client.name);
    if (mapped && mapped.instanceId !== client.agentInstanceId) {
      problems.push(`clients.${i}.agentInstanceId: client ${client.name} is mapped to ${mapped.instanceId} (cairn client list), not ${client.agentInstanceId}`);
    }
  }
  return problems;
}

/** The policies that give `client` an agentInstanceId other than `instanceId`, as `policy: instance`. */
export async function clientInstanceConflicts(config: ConfigStore, client: string, instanceId: string): Promise<string[]> {
  return (await config.listPolicies()).flatMap((policy) => {
    const other = policy.clients.find((c) => c.name === client)?.agentInstanceId;
    return other !== undefined && other !== instanceId ? [`policy ${policy.name} gives client ${client} agentInstanceId ${other}`] : [];
  });
}
