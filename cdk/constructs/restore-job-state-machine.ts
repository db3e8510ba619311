import * as fs from 'node:fs';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { settingsOf, uniqueName } from '../stack-settings.ts';
import { grantAgentCommands, sendCommandTaskResource } from './backup-job-state-machine.ts';

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
 * restore`). Its role may invoke the restore function (Queue, Plan, Reserve,
 * RecordRead), the broker (Release) and the jobs function (EndJob), and send
 * the agent document (Mount, Read, Unmount) to the instance the reservation
 * names, nothing else (plus log delivery and X-Ray, as the backup job's).
 */
export class RestoreJobStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RestoreJobStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // Audit history without execution data (paths, task tokens), as the backup job's; names end in the stack id.
    const name = uniqueName(this, 'restore-job');
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${name}`,
      retention: settingsOf(this).logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const substitutions: Record<(typeof RESTORE_DEFINITION_SUBSTITUTIONS)[number], string> = {
      RestoreFunctionArn: props.restoreFunction.functionArn,
      JobsFunctionArn: props.jobsFunction.functionArn,
      BrokerFunctionArn: props.brokerFunction.functionArn,
      AgentDocumentName: props.agentDocumentName,
      SendCommandTaskResource: sendCommandTaskResource(stack.partition),
    };

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(fs.readFileSync(props.definitionPath, 'utf8')),
      definitionSubstitutions: substitutions,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });

    // Unqualified ARNs only, as the Task states name them (no `<arn>:*` that grantInvoke would add).
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.restoreFunction.functionArn, props.brokerFunction.functionArn, props.jobsFunction.functionArn],
      }),
    );
    grantAgentCommands(this.stateMachine, props.agentDocumentName);
  }
}
