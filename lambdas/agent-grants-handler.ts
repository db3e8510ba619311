import { z } from 'zod';
import type { ClientInstanceSource, ManagedPolicyVersions } from '#core/ports/managed-policies.ts';
import { syncAgentGrants, type AgentGrantSlots } from '#core/policies/sync-agent-grants.ts';
import { taskHandler } from './handler-kit.ts';

/**
 * Keeps the agent role's per-client S3 grants current. The event is not read:
 * whatever invoked it (a config-table stream batch, `aws lambda invoke`), the
 * function recomputes the grants from the whole mapping and writes what
 * differs, so a duplicate, late or reordered event changes nothing. A failure
 * (too many assignments, IAM refusing) throws; the stream then retries the
 * batch, and the role keeps the grants it had.
 */
export function createAgentGrantsHandler(deps: { mapping: ClientInstanceSource; policies: ManagedPolicyVersions; slots: AgentGrantSlots }) {
  return taskHandler(z.unknown(), 'agent-grants', async () => syncAgentGrants(deps, deps.slots));
}
