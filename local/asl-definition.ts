import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BACKUP_JOB_ASL = fileURLToPath(new URL('../statemachines/backup-job.asl.json', import.meta.url));

/**
 * The ASL file with its CDK substitutions (cdk/constructs/backup-job-state-machine.ts
 * DEFINITION_SUBSTITUTIONS) filled with placeholder ARNs: in the standalone
 * runtime every Task state is overridden by state name, so the ARNs only have
 * to be well-formed. The stack fills in its own partition; here it is `aws`.
 */
export function loadBackupJobDefinition(): Record<string, unknown> {
  const substitutions: Record<string, string> = {
    JobsFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-jobs',
    BrokerFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-broker',
    CatalogFunctionArn: 'arn:aws:lambda:local:000000000000:function:cairn-catalog',
    AgentDocumentName: 'cairn-RunBackupTask-local',
    SendCommandTaskResource: 'arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken',
  };
  const text = readFileSync(BACKUP_JOB_ASL, 'utf8').replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`backup-job.asl.json uses an unknown substitution \${${name}}`);
    return value;
  });
  return JSON.parse(text) as Record<string, unknown>;
}
