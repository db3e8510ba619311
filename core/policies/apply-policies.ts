import { Policy } from '../model/policy.ts';
import type { StorageUnit } from '../model/storage-unit.ts';
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
 * that does not exist is rejected too. With `cloud` (a deployed stack's
 * configuration), a `catalogBackup` whose unit the catalog-job Lambda
 * cannot write to is rejected as well.
 */
export async function applyPolicies(config: ConfigStore, documents: readonly unknown[], options: { dryRun?: boolean; cloud?: boolean } = {}): Promise<ApplyResult[]> {
  const unitList = await config.listStorageUnits();
  const units = new Set(unitList.map((u) => u.name));
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
    if (options.cloud) problems.push(...cloudCatalogBackupProblems(parsed.data, unitList).map((p) => `${label}: ${p}`));
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

/**
 * A cloud catalog backup runs in the catalog-job Lambda, which reaches S3
 * units only: a disk unit is a directory on an agent's host, and a tape
 * unit holds no catalog image. (core/jobs/catalog-job.ts refuses the same
 * when the job runs, should the unit change after.)
 */
function cloudCatalogBackupProblems(policy: Policy, units: readonly StorageUnit[]): string[] {
  if (policy.catalogBackup === undefined) return [];
  const name = policy.catalogBackup.storageUnit ?? policy.storageUnit;
  const field = policy.catalogBackup.storageUnit === undefined ? 'catalogBackup (the policy\'s storageUnit)' : 'catalogBackup.storageUnit';
  const unit = units.find((u) => u.name === name);
  if (unit === undefined) return policy.catalogBackup.storageUnit === undefined ? [] : [`${field}: storage unit "${name}" does not exist`];
  if (unit.kind === 'disk') return [`${field}: storage unit "${name}" is a disk unit on an agent's host, which the cloud's catalog-job Lambda cannot reach: name an S3 unit for the catalog backup`];
  if (unit.kind === 'tape') return [`${field}: storage unit "${name}" is a tape unit: a catalog backup goes to an S3 unit, which recovery reads without a catalog`];
  return [];
}
