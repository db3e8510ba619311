import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { JobStateMachine } from './job-state-machine.ts';

export interface RestoreJobStateMachineProps {
  /** statemachines/restore-job.asl.json: the same file local/restore-engine.ts runs in-process. */
  readonly definitionPath: string;
  readonly restoreFunction: lambda.IFunction;
  readonly jobsFunction: lambda.IFunction;
  readonly brokerFunction: lambda.IFunction;
  readonly agentDocumentName: string;
}

/** The placeholders restore-job.asl.json uses (local/asl-definition.ts fills them for the local runtime). */
export const RESTORE_DEFINITION_SUBSTITUTIONS = ['RestoreFunctionArn', 'JobsFunctionArn', 'BrokerFunctionArn', 'AgentDocumentName', 'SendCommandTaskResource'] as const;

/**
 * One STANDARD execution per restore job of a tape image (`cairn --aws
 * restore`), configured as the backup job's (job-state-machine.ts). Its role
 * may invoke the restore function (Queue, Plan, Reserve, RecordRead), the
 * broker (Release) and the jobs function (EndJob), and send the agent
 * document (Mount, Read, Unmount) to the instance the reservation names,
 * nothing else.
 */
export class RestoreJobStateMachine extends JobStateMachine {
  constructor(scope: Construct, id: string, props: RestoreJobStateMachineProps) {
    super(scope, id, {
      definitionPath: props.definitionPath,
      name: 'restore-job',
      // In the order the role's invoke statement has always listed them.
      functions: { RestoreFunctionArn: props.restoreFunction, BrokerFunctionArn: props.brokerFunction, JobsFunctionArn: props.jobsFunction },
      agentDocumentName: props.agentDocumentName,
    });
  }
}
