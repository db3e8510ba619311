import type { ConfigStore } from '../ports/config-store.ts';
import type { ClientInstanceSource, ManagedPolicyVersions, PolicyVersion } from '../ports/managed-policies.ts';
import { agentGrantDocuments, emptyGrantDocument, type ClientInstance, type PolicyDocument } from './agent-grants.ts';

export interface AgentGrantSlots {
  readonly partition: string;
  readonly bucket: string;
  /** The customer managed policies the stack attached to the agent role, in order. */
  readonly policyArns: readonly string[];
}

export interface AgentGrantSync {
  readonly assignments: number;
  /** Policies given a new default version. */
  readonly written: string[];
  /** Policies whose default version already said the same. */
  readonly unchanged: string[];
  /** Old versions deleted to stay under IAM's five. */
  readonly pruned: string[];
}

/**
 * Makes the agent role's grant policies say what the mapping says: document i
 * of agentGrantDocuments into policy i, a grant-nothing document into the
 * rest. Level-triggered and idempotent: it reads the whole mapping each time,
 * writes only policies whose default version differs, and a repeated or
 * reordered run ends in the same state. Too many assignments for the slots is
 * refused before anything is written. Before a new version, every version
 * but the default is deleted, so a policy holds at most two (IAM allows five):
 * the current one and the one before it.
 */
export async function syncAgentGrants(deps: { mapping: ClientInstanceSource; policies: ManagedPolicyVersions }, slots: AgentGrantSlots): Promise<AgentGrantSync> {
  const assignments = await deps.mapping.listClientInstances();
  const documents = agentGrantDocuments(assignments, { partition: slots.partition, bucket: slots.bucket, documents: slots.policyArns.length });
  const result: AgentGrantSync = { assignments: assignments.length, written: [], unchanged: [], pruned: [] };
  for (const [i, policyArn] of slots.policyArns.entries()) {
    const wanted = documents[i] ?? emptyGrantDocument(slots.partition, slots.bucket);
    const versions = await deps.policies.listVersions(policyArn);
    const current = versions.find((v) => v.isDefault);
    if (current !== undefined && sameDocument(await deps.policies.getDocument(policyArn, current.versionId), wanted)) {
      result.unchanged.push(policyArn);
      continue;
    }
    for (const old of oldestFirst(versions.filter((v) => !v.isDefault))) {
      await deps.policies.deleteVersion(policyArn, old.versionId);
      result.pruned.push(`${policyArn} ${old.versionId}`);
    }
    await deps.policies.createDefaultVersion(policyArn, JSON.stringify(wanted));
    result.written.push(policyArn);
  }
  return result;
}

function sameDocument(text: string, wanted: PolicyDocument): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(wanted);
  } catch {
    return false;
  }
}

function oldestFirst(versions: readonly PolicyVersion[]): PolicyVersion[] {
  return [...versions].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.versionId.localeCompare(b.versionId, 'en'));
}

/**
 * The mapping as policies record it today: each policy client with an
 * `agentInstanceId` (core/model/policy.ts). A client in two policies on the
 * same instance counts once; on two instances, both get it.
 */
export function policyClientInstances(config: Pick<ConfigStore, 'listPolicies'>): ClientInstanceSource {
  return {
    async listClientInstances() {
      const seen = new Map<string, ClientInstance>();
      for (const policy of await config.listPolicies()) {
        for (const client of policy.clients) {
          if (client.agentInstanceId === undefined) continue;
          seen.set(`${client.name}\u0000${client.agentInstanceId}`, { client: client.name, instanceId: client.agentInstanceId });
        }
      }
      return [...seen.values()];
    },
  };
}

/**
 * The mapping as the cloud runtime resolves it (core/clients/agent-instance.ts):
 * a client's own mapping (`cairn client add NAME --instance ID`) wins, and a
 * policy client's `agentInstanceId` counts only for a client with no
 * mapping, so the grants follow exactly the instance backups are sent to.
 */
export function configClientInstances(config: Pick<ConfigStore, 'listPolicies' | 'listClients'>): ClientInstanceSource {
  const fromPolicies = policyClientInstances(config);
  return {
    async listClientInstances() {
      const mapped = await config.listClients();
      const names = new Set(mapped.map((client) => client.name));
      const byPolicy = (await fromPolicies.listClientInstances()).filter((entry) => !names.has(entry.client));
      return [...mapped.map((client) => ({ client: client.name, instanceId: client.instanceId })), ...byPolicy];
    },
  };
}
