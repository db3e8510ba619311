import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { JobStateMachine } from './job-state-machine.ts';

export interface VerifyJobStateMachineProps {
  /** statemachines/verify-job.asl.json: the same file local/verify-engine.ts runs in-process. */
  readonly definitionPath: string;
  readonly verifyFunction: lambda.IFunction;
  readonly jobsFunction: lambda.IFunction;
  readonly brokerFunction: lambda.IFunction;
  readonly agentDocumentName: string;
}

/** The placeholders verify-job.asl.json uses (local/asl-definition.ts fills them for the local runtime). */
export const VERIFY_DEFINITION_SUBSTITUTIONS = ['VerifyFunctionArn', 'JobsFunctionArn', 'BrokerFunctionArn', 'AgentDocumentName', 'SendCommandTaskResource'] as const;

/**
 * One STANDARD execution per verify job (`cairn --aws verify`, the
 * scheduler's due verifies), configured as the restore job's. Its role may
 * invoke the verify function (Queue, Start, Record, Plan, Reserve,
 * RecordRead), the broker (a tape image's Release) and the jobs function
 * (EndJob), and send the agent document (Verify; Mount, Read, Unmount) to
 * the instance the job names, nothing else.
 */
export class VerifyJobStateMachine extends JobStateMachine {
  constructor(scope: Construct, id: string, props: VerifyJobStateMachineProps) {
    super(scope, id, {
      definitionPath: props.definitionPath,
      name: 'verify-job',
      functions: { VerifyFunctionArn: props.verifyFunction, BrokerFunctionArn: props.brokerFunction, JobsFunctionArn: props.jobsFunction },
      agentDocumentName: props.agentDocumentName,
    });
  }
}
