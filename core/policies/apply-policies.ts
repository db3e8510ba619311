import { Policy } from '../model/policy.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import { ValidationError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { describeIssues } from '../validation.ts';
import { policyInstanceConflicts } from '../clients/agent-instance.ts';

export interface ApplyResult {
  policy: string;
  action: 'created' | 'updated' | 'unchanged';
}

/**
 * Validates every policy document first and applies them only if all are
 * valid, so a file with one mistake changes nothing. Every problem is named
 * with its document, field path and reason; a policy naming a storage unit
 * that does not exist is rejected too.
 */
export async function applyPolicies(config: ConfigStore, documents: readonly unknown[], options: { dryRun?: boolean } = {}): Promise<ApplyResult[]> {
  const units = new Set((await config.listStorageUnits()).map((u) => u.name));
  const problems: string[] = [];
  const policies: Policy[] = [];
  const seen = new Set<string>();
  documents.forEach((doc, i) => {
    const label = `document ${i + 1}${doc && typeof doc === 'object' && 'name' in doc ? ` (${String((doc as { name: unknown }).name)})` : ''}`;
    const parsed = Policy.safeParse(doc);
    if (!parsed.success) {
      problems.push(...describeIssues(parsed.error).map((p) => `${label}: ${p}`));
      return;
    }
    if (!units.has(parsed.data.storageUnit)) problems.push(`${label}: storageUnit: storage unit "${parsed.data.storageUnit}" does not exist (known: ${[...units].join(', ') || 'none'})`);
    if (seen.has(parsed.data.name)) problems.push(`${label}: name: policy "${parsed.data.name}" appears twice in this file`);
    seen.add(parsed.data.name);
    policies.push(parsed.data);
  });
  if (documents.length === 0) problems.push('(root): the file holds no policy');
  // A policy client's agentInstanceId must agree with the client's mapping (core/clients/agent-instance.ts).
  for (const policy of policies) problems.push(...(await policyInstanceConflicts(config, policy)).map((p) => `policy ${policy.name}: ${p}`));
  if (problems.length > 0) throw new ValidationError('policy file rejected, nothing was changed', problems, { statusCode: StatusCode.INVALID_POLICY });

  const results: ApplyResult[] = [];
  for (const policy of policies) {
    const existing = await config.getPolicy(policy.name);
    const action = !existing ? 'created' : JSON.stringify(existing) === JSON.stringify(policy) ? 'unchanged' : 'updated';
    if (!options.dryRun && action !== 'unchanged') await config.putPolicy(policy);
    results.push({ policy: policy.name, action });
  }
  return results;
}
