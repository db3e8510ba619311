import * as fs from 'node:fs';
import { Arn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { settingsOf, uniqueName } from '../stack-settings.ts';

/** The optimized SSM SendCommand integration with a task token, in `partition`. */
export function sendCommandTaskResource(partition: string): string {
  return `arn:${partition}:states:::aws-sdk:ssm:sendCommand.waitForTaskToken`;
}

export interface JobStateMachineProps {
  /** The ASL file: the same file the local runtime runs in-process. */
  readonly definitionPath: string;
  /** The state machine's name before the stack's id: `backup-job`, `restore-job`. */
  readonly name: string;
  /**
   * The functions the Task states invoke, by the placeholder that names each
   * in the ASL (`JobsFunctionArn`, ...), in the order the role's invoke
   * statement lists them.
   */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** The agent document its Task states send; absent (the catalog job, whose work runs in a Lambda): the role sends none. */
  readonly agentDocumentName?: string;
}

/**
 * nbjm's per-job process, as the backup-job and restore-job state machines
 * share it: one STANDARD execution per job, from an ASL file whose
 * placeholders CloudFormation substitutes (DefinitionSubstitutions) when it
 * creates the state machine; the local runtime maps Task states by name
 * instead, so the file stays deployable as is. `${SendCommandTaskResource}`
 * is the SSM callback integration's ARN, whose partition (aws, aws-cn,
 * aws-us-gov) is the stack's; it is a placeholder for the whole Resource
 * string because validators (cfn-lint E3601) check the definition before
 * substitution and refuse a partial `arn:${...}:states:...`.
 *
 * Its role may invoke the functions the ASL names and send the agent
 * document to managed instances, nothing else (plus the log delivery and
 * X-Ray permissions the CDK adds for logging and tracing). test/iam derives
 * these calls from the ASL files and checks them against the roles.
 */
export class JobStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: JobStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // Executions are audit history: ALL events, but no execution data, which
    // carries task payloads (client paths) and task tokens.
    // Both names end in the stack's own id (stack-settings.ts uniqueName): the
    // log group is retained, so a fixed name would refuse the next deployment
    // after `cdk destroy`; and a second stack in the account gets its own.
    const name = uniqueName(this, props.name);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      // The /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy small.
      logGroupName: `/aws/vendedlogs/states/${name}`,
      retention: settingsOf(this).logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const functions = Object.entries(props.functions);
    const substitutions: Record<string, string> = {
      ...Object.fromEntries(functions.map(([placeholder, fn]) => [placeholder, fn.functionArn])),
      ...(props.agentDocumentName === undefined ? {} : { AgentDocumentName: props.agentDocumentName, SendCommandTaskResource: sendCommandTaskResource(stack.partition) }),
    };

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(fs.readFileSync(props.definitionPath, 'utf8')),
      definitionSubstitutions: substitutions,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });

    // The Task states name the functions by their unqualified ARNs (the
    // substitutions above), so that is all the role may invoke: not their
    // versions or aliases (`<arn>:*`), which grantInvoke would add.
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: functions.map(([, fn]) => fn.functionArn) }));

    if (props.agentDocumentName !== undefined) grantAgentCommands(this.stateMachine, props.agentDocumentName);
    else Validations.of(this.stateMachine.role).acknowledge(LOGGING_AND_TRACING_FINDING);
  }
}

/**
 * Vended log delivery (logs:CreateLogDelivery, ..., PutResourcePolicy) and
 * X-Ray (PutTraceSegments, GetSamplingRules, ...) take no resource-level
 * permissions: the Step Functions developer guide lists them on "*" for
 * logging and tracing. Every job state machine's role has them.
 */
const LOGGING_AND_TRACING_FINDING = {
  id: 'AwsSolutions-IAM5[Resource::*]',
  reason: 'Log delivery and X-Ray actions for logging and tracing support no resource-level permissions (Step Functions developer guide)',
};

/**
 * What a job state machine's role needs to run the agent document with a task
 * token (Mount, Stream or Read, Unmount), and the cdk-nag acknowledgments of
 * its wildcards; the backup-job and restore-job state machines share it.
 */
export function grantAgentCommands(stateMachine: sfn.StateMachine, agentDocumentName: string): void {
  const stack = Stack.of(stateMachine);
  // sendCommand.waitForTaskToken: SendCommand is authorized against the
  // document and against every target instance, so both are listed. Agents
  // run on hybrid-activated hosts (managed-instance/mi-...) and on EC2
  // instances launched with the agent role's instance profile (ec2
  // instance/i-...), agent-role.ts.
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ssm:SendCommand'],
      resources: [
        Arn.format({ service: 'ssm', resource: 'document', resourceName: agentDocumentName }, stack),
        Arn.format({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }, stack),
        Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack),
      ],
    }),
  );

  // cdk-nag IAM5 findings, each a wildcard nothing narrower can replace:
  const role = stateMachine.role;
  Validations.of(role).acknowledge(
    {
      // The agent's instance is chosen at run time (the broker's reservation
      // names it), so the role may target any managed instance; the document
      // statement above limits what it can make them run to Cairn's agent.
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*]',
      reason: 'The target instance is chosen at run time by the broker; SendCommand is also limited to the Cairn agent document',
    },
    {
      // The same for EC2 instances that run the agent through its instance profile.
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason: 'EC2 agents are targets as hybrid ones are: the instance is chosen at run time by the broker; SendCommand is also limited to the Cairn agent document',
    },
    LOGGING_AND_TRACING_FINDING,
  );
}
