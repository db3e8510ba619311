import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { JobStateMachine } from './job-state-machine.ts';

export interface DuplicateJobStateMachineProps {
  /** statemachines/duplicate-job.asl.json: the same file local/duplicate-engine.ts runs in-process. */
  readonly definitionPath: string;
  readonly duplicateFunction: lambda.IFunction;
  readonly jobsFunction: lambda.IFunction;
  readonly agentDocumentName: string;
}

/** The placeholders duplicate-job.asl.json uses (local/asl-definition.ts fills them for the local runtime). */
export const DUPLICATE_DEFINITION_SUBSTITUTIONS = ['DuplicateFunctionArn', 'JobsFunctionArn', 'AgentDocumentName', 'SendCommandTaskResource'] as const;

/**
 * One STANDARD execution per duplicate job (the scheduler's policy copies),
 * configured as the verify job's. Its role may invoke the duplicate function
 * (Queue, Start, Record) and the jobs function (EndJob), and send the agent
 * document (Copy) to the instance the job names, nothing else: no broker,
 * since the cloud duplicate job reserves no drive.
 */
export class DuplicateJobStateMachine extends JobStateMachine {
  constructor(scope: Construct, id: string, props: DuplicateJobStateMachineProps) {
    super(scope, id, {
      definitionPath: props.definitionPath,
      name: 'duplicate-job',
      functions: { DuplicateFunctionArn: props.duplicateFunction, JobsFunctionArn: props.jobsFunction },
      agentDocumentName: props.agentDocumentName,
    });
  }
}
