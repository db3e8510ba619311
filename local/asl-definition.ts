import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BACKUP_JOB_ASL = fileURLToPath(new URL('../statemachines/backup-job.asl.json', import.meta.url));

export const RESTORE_JOB_ASL = fileURLToPath(new URL('../statemachines/restore-job.asl.json', import.meta.url));

export const VERIFY_JOB_ASL = fileURLToPath(new URL('../statemachines/verify-job.asl.json', import.meta.url));

export const DUPLICATE_JOB_ASL = fileURLToPath(new URL('../statemachines/duplicate-job.asl.json', import.meta.url));
export const CATALOG_JOB_ASL = fileURLToPath(new URL('../statemachines/catalog-job.asl.json', import.meta.url));

/**
 * The ASL file with its CDK substitutions (cdk/constructs/backup-job-state-machine.ts
 * DEFINITION_SUBSTITUTIONS) filled with placeholder ARNs: in the standalone
 * runtime every Task state is overridden by state name, so the ARNs only have
 * to be well-formed. The stack fills in its own partition; here it is `aws`.
 */
export function loadBackupJobDefinition(): Record<string, unknown> {
  return loadDefinition(BACKUP_JOB_ASL);
}

/** restore-job.asl.json, filled the same way (its Queue, Plan, Reserve and RecordRead states use `${RestoreFunctionArn}`). */
export function loadRestoreJobDefinition(): Record<string, unknown> {
  return loadDefinition(RESTORE_JOB_ASL);
}

/** verify-job.asl.json, filled the same way (its Queue, Start and Record states use `${VerifyFunctionArn}`). */
export function loadVerifyJobDefinition(): Record<string, unknown> {
  return loadDefinition(VERIFY_JOB_ASL);
}

/** duplicate-job.asl.json, filled the same way (its Queue, Start and Record states use `${DuplicateFunctionArn}`). */
export function loadDuplicateJobDefinition(): Record<string, unknown> {
  return loadDefinition(DUPLICATE_JOB_ASL);
}

/** catalog-job.asl.json, filled the same way (its Queue and Run states use `${CatalogJobFunctionArn}`): the cloud's scheduled catalog jobs, run in process by tests. */
export function loadCatalogJobDefinition(): Record<string, unknown> {
  return loadDefinition(CATALOG_JOB_ASL);
}

function loadDefinition(file: string): Record<string, unknown> {
  const substitutions: Record<string, string> = {
    JobsFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-jobs',
    BrokerFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-broker',
    CatalogFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-catalog',
    RestoreFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-restore',
    VerifyFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-verify',
    DuplicateFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-duplicate',
    CatalogJobFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-catalog-job',
    AgentDocumentName: 'cairn-RunBackupTask-local',
    SendCommandTaskResource: 'arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken',
  };
  const text = readFileSync(file, 'utf8').replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`${file} uses an unknown substitution \${${name}}`);
    return value;
  });
  return JSON.parse(text) as Record<string, unknown>;
}
