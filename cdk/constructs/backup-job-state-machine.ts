import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { JobStateMachine } from './job-state-machine.ts';

export { grantAgentCommands, sendCommandTaskResource } from './job-state-machine.ts';

export interface BackupJobStateMachineProps {
  /** statemachines/backup-job.asl.json: the same file the local runtime runs in-process. */
  readonly definitionPath: string;
  readonly jobsFunction: lambda.IFunction;
  readonly brokerFunction: lambda.IFunction;
  readonly catalogFunction: lambda.IFunction;
  readonly agentDocumentName: string;
}

/**
 * The placeholders backup-job.asl.json may use (job-state-machine.ts
 * substitutes them; local/asl-definition.ts fills them for the local runtime).
 */
export const DEFINITION_SUBSTITUTIONS = ['JobsFunctionArn', 'BrokerFunctionArn', 'CatalogFunctionArn', 'AgentDocumentName', 'SendCommandTaskResource'] as const;

/**
 * One STANDARD execution per backup job (job-state-machine.ts). Its role may
 * invoke the jobs, broker and catalog functions and send the agent document
 * (Mount, Stream, Continue, Unmount), nothing else.
 */
export class BackupJobStateMachine extends JobStateMachine {
  constructor(scope: Construct, id: string, props: BackupJobStateMachineProps) {
    super(scope, id, {
      definitionPath: props.definitionPath,
      name: 'backup-job',
      functions: { JobsFunctionArn: props.jobsFunction, BrokerFunctionArn: props.brokerFunction, CatalogFunctionArn: props.catalogFunction },
      agentDocumentName: props.agentDocumentName,
    });
  }
}
