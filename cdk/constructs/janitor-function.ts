import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { AGENT_COMMAND_DOCUMENT_ENV, DUPLICATE_STATE_MACHINE_ARN_ENV, RESTORE_STATE_MACHINE_ARN_ENV, STATE_MACHINE_ARN_ENV, VERIFY_STATE_MACHINE_ARN_ENV } from './scheduler-function.ts';
import { sendAgentCommandStatement } from './agent-document.ts';

/** The execution statuses the janitor repairs: every way an execution ends without its workflow ending the job. */
export const JANITOR_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;

/** How often Lambda retries a janitor invocation that failed (a throttled table, say); the sweep is the backstop after that. */
export const JANITOR_RETRY_ATTEMPTS = 2;

export interface JanitorFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
  /** The backup-job state machine: its executions' ends go to the janitor. */
  readonly stateMachine: sfn.IStateMachine;
  /** The restore-job state machine: its executions' ends go to the janitor too (restore jobs, their drives). */
  readonly restoreStateMachine?: sfn.IStateMachine;
  /** The verify-job state machine: its executions' ends go to the janitor too (verify jobs, a tape image's drive). */
  readonly verifyStateMachine?: sfn.IStateMachine;
  /** The duplicate-job state machine: its executions' ends go to the janitor too (policy copies' duplicate jobs). */
  readonly duplicateStateMachine?: sfn.IStateMachine;
  /**
   * The operator's RunAgentCommand document: given, a backup job the janitor
   * ends has its frozen images deleted by its agent (`delete-snapshot`, as the
   * idle unload sends `unmount`): a stopped or timed-out execution ran no
   * DeleteSnapshot step.
   */
  readonly agentCommandDocumentName?: string;
}

/**
 * The execution janitor: an EventBridge rule on the backup-job and the
 * restore-job state machines' executions that end ABORTED (StopExecution),
 * TIMED_OUT (its TimeoutSeconds) or FAILED (a step whose Catch could not end
 * the job: JobNotEnded, ReservationNotReleased, a runtime error) invokes the
 * function, which ends the execution's job (of the kind that state machine
 * runs) with the status that means and releases what it holds
 * (lambdas/janitor.ts, core/jobs/execution-janitor.ts).
 *
 * The function finds the job by its execution name (Jobs: GetItem), ends it
 * (Jobs: GetItem, PutItem), withdraws the image of a job that ended with a
 * failure (Catalog: GetItem, then PutItem and DeleteItem in one transaction),
 * records a tape drive the job held as possibly holding its volume (Media:
 * Query the reservations and the drives, GetItem, PutItem in one
 * transaction; the scheduler's idle unload takes it out through the agent)
 * and releases its reservation (Media: GetItem, then DeleteItem and
 * UpdateItem in one transaction). With the RunAgentCommand document, a
 * backup job it ends whose policy takes snapshots gets its agent sent
 * `delete-snapshot` (Config: GetItem of the policy, unit and client; SSM:
 * SendCommand of that document). Nothing else: it never touches the bucket
 * or Step Functions (the event carries the status).
 */
export class JanitorFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/janitor.ts' });

  readonly function: NodejsFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: JanitorFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: JanitorFunction.source(props.projectRoot),
      description: 'Cairn janitor: ends the job of a backup or restore execution that stopped, timed out or failed, and releases what it holds',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // The handler refuses events of any other state machine.
    this.function.addEnvironment(STATE_MACHINE_ARN_ENV, props.stateMachine.stateMachineArn);
    if (props.restoreStateMachine) this.function.addEnvironment(RESTORE_STATE_MACHINE_ARN_ENV, props.restoreStateMachine.stateMachineArn);
    if (props.verifyStateMachine) this.function.addEnvironment(VERIFY_STATE_MACHINE_ARN_ENV, props.verifyStateMachine.stateMachineArn);
    if (props.duplicateStateMachine) this.function.addEnvironment(DUPLICATE_STATE_MACHINE_ARN_ENV, props.duplicateStateMachine.stateMachineArn);
    this.function.configureAsyncInvoke({ retryAttempts: JANITOR_RETRY_ATTEMPTS });
    // Exactly what lambdas/janitor.ts calls (test/iam checks it).
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem');
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem');
    props.tables.media.grant(this.function, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    // The job it ends is a job state change: published like any other (lambdas/dynamo-deps.ts).
    grantPutJobEvents(this.function);
    if (props.agentCommandDocumentName) this.grantSnapshotDelete(props.agentCommandDocumentName, props.tables);

    this.rule = new events.Rule(this, 'ExecutionEnded', {
      description: 'Cairn: a backup-job or restore-job execution ended without its workflow ending the job (stopped, timed out, failed)',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [props.stateMachine.stateMachineArn, ...(props.restoreStateMachine ? [props.restoreStateMachine.stateMachineArn] : []), ...(props.verifyStateMachine ? [props.verifyStateMachine.stateMachineArn] : []), ...(props.duplicateStateMachine ? [props.duplicateStateMachine.stateMachineArn] : [])],
          status: [...JANITOR_STATUSES],
        },
      },
      // Delivery to Lambda is retried by EventBridge for up to a day; the function's own failures by Lambda (above).
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 8, maxEventAge: Duration.hours(24) })],
    });
  }

  /**
   * A stopped backup job's snapshots (core/jobs/snapshot-delete.ts): the
   * job's policy, storage unit and client mapping (Config: GetItem) say
   * which agent instance its commands went to; SendCommand of the operator's
   * document only, to that instance (chosen at run time: `*`). It does not
   * wait for the answer: the agent's clean-up at its next start is the backstop.
   */
  private grantSnapshotDelete(documentName: string, tables: CairnTables): void {
    tables.config.grant(this.function, 'dynamodb:GetItem');
    this.function.addEnvironment(AGENT_COMMAND_DOCUMENT_ENV, documentName);
    this.function.addToRolePolicy(sendAgentCommandStatement(this, documentName));
    Validations.of(this.function.role!).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*]',
        reason: "The stopped job's agent instance is chosen at run time (its client's); SendCommand is also limited to the RunAgentCommand document",
      },
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
        reason: "EC2 agents are targets as hybrid ones are: the stopped job's agent instance is chosen at run time; SendCommand is also limited to the RunAgentCommand document",
      },
    );
  }
}
