import type { ClientInstance } from '../policies/agent-grants.ts';

/**
 * Where the client → agent instance mapping comes from. The Lambda that keeps
 * the agents' grants current reads the whole mapping on every run (it is
 * level-triggered: any event means "resync"), so this only lists.
 */
export interface ClientInstanceSource {
  /** Every (client, instance) assignment; the same client on two instances appears twice. */
  listClientInstances(): Promise<ClientInstance[]>;
}

export interface PolicyVersion {
  readonly versionId: string;
  readonly isDefault: boolean;
  readonly createdAt: Date;
}

/**
 * The versions of existing customer managed policies (IAM: ListPolicyVersions,
 * GetPolicyVersion, CreatePolicyVersion, DeletePolicyVersion). Nothing here
 * creates, attaches or deletes a policy: the stack owns those. IAM keeps at
 * most five versions of a policy; making room is the caller's job.
 */
export interface ManagedPolicyVersions {
  listVersions(policyArn: string): Promise<PolicyVersion[]>;
  /** The version's document as JSON text. */
  getDocument(policyArn: string, versionId: string): Promise<string>;
  /** Creates a version and makes it the default (the one IAM enforces); returns its id. */
  createDefaultVersion(policyArn: string, document: string): Promise<string>;
  /** Deletes a version that is not the default. */
  deleteVersion(policyArn: string, versionId: string): Promise<void>;
}
