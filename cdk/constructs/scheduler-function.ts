import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { bucketObjectsFinding } from '../nag-findings.ts';
import { sendAgentCommandStatement } from './agent-document.ts';
import { IMAGE_OBJECT_KEYS } from './deletion-role.ts';

/** The variable lambdas/scheduler.ts reads the backup-job state machine's ARN from. */
export const STATE_MACHINE_ARN_ENV = 'STATE_MACHINE_ARN';
/** The variable lambdas/scheduler.ts and janitor.ts read the restore-job state machine's ARN from. */
export const RESTORE_STATE_MACHINE_ARN_ENV = 'RESTORE_STATE_MACHINE_ARN';
/** The variable lambdas/scheduler.ts and janitor.ts read the verify-job state machine's ARN from. */
export const VERIFY_STATE_MACHINE_ARN_ENV = 'VERIFY_STATE_MACHINE_ARN';
/** The variable lambdas/scheduler.ts and janitor.ts read the duplicate-job state machine's ARN from. */
export const DUPLICATE_STATE_MACHINE_ARN_ENV = 'DUPLICATE_STATE_MACHINE_ARN';
/** The variable lambdas/scheduler.ts reads the RunAgentCommand document's name from (the idle drive unload). */
export const AGENT_COMMAND_DOCUMENT_ENV = 'AGENT_COMMAND_DOCUMENT';

export const DEFAULT_SCHEDULER_RATE = Duration.minutes(1);

/** How often EventBridge Scheduler retries handing a tick to Lambda (throttling, service errors). */
export const SCHEDULER_RETRY_ATTEMPTS = 2;

export interface SchedulerFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
  /** The backup-job state machine: the only one the scheduler may start executions of. */
  readonly stateMachine: sfn.IStateMachine;
  /** The restore-job state machine: the sweep describes the executions restore jobs recorded (it starts none). */
  readonly restoreStateMachine?: sfn.IStateMachine;
  /** The verify-job state machine: the tick starts the verifies due (a policy's `verify`), the sweep describes verify jobs' executions. */
  readonly verifyStateMachine?: sfn.IStateMachine;
  /** The duplicate-job state machine: the tick starts the policy copies due (a policy's `copies`), the sweep describes their jobs' executions. */
  readonly duplicateStateMachine?: sfn.IStateMachine;
  /** How often the tick runs (context `schedulerRate`, in minutes). Default 1 minute. */
  readonly rate?: Duration;
  /**
   * The operator's RunAgentCommand document: each tick sends `unmount` with it
   * to the agent of a robot whose drive stayed loaded past its unit's
   * mediaUnmountDelaySeconds, and reads the answer on a later tick.
   */
  readonly agentCommandDocumentName?: string;
}

/**
 * nbpem: the scheduler tick. An EventBridge Scheduler schedule invokes the
 * function every `rate`; each tick starts one backup-job execution per due job,
 * named after its (policy, client, schedule, window opening), so a repeated or
 * concurrent tick starts nothing twice.
 *
 * The function reads policies and settings, the catalog and the jobs, and may
 * start executions of the backup-job state machine (the Queue state records
 * the job). Each tick also sweeps: it may describe executions of that state
 * machine, end a job whose execution is gone or no longer running (and
 * withdraw its image) and release reservations nothing else will. The schedule's own role may invoke this
 * function and nothing else, and only schedules in Cairn's schedule group may
 * assume it.
 *
 * A tick that is late by more than one period is dropped, both by the schedule
 * and by Lambda's asynchronous queue: the next tick does the same work, so
 * retrying an old one would only pile ticks up. Lambda does not retry a failed
 * tick for the same reason.
 */
export class SchedulerFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/scheduler.ts' });

  readonly function: NodejsFunction;
  readonly schedule: scheduler.Schedule;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly scheduleRole: iam.Role;

  constructor(scope: Construct, id: string, props: SchedulerFunctionProps) {
    super(scope, id);
    const rate = props.rate ?? DEFAULT_SCHEDULER_RATE;
    // Scheduler accepts event ages of 1 minute to 1 day, Lambda's async queue up to 6 hours.
    const maxEventAge = Duration.seconds(Math.min(Math.max(rate.toSeconds(), 60), 6 * 3600));

    this.function = newCairnFunction(this, 'Function', {
      source: SchedulerFunction.source(props.projectRoot),
      description: 'Cairn scheduler: starts one backup-job execution per due job',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
      // Starting many due jobs is one StartExecution each; a slow tick overlapping the next is harmless.
      timeout: Duration.seconds(60),
    });
    this.function.addEnvironment(STATE_MACHINE_ARN_ENV, props.stateMachine.stateMachineArn);
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge });
    // Exactly what lambdas/scheduler.ts calls (test/iam checks it): policies
    // (Query) and settings (GetItem), every image (Scan), the recent jobs (Query).
    props.tables.config.grant(this.function, 'dynamodb:Query', 'dynamodb:GetItem');
    props.tables.catalog.grant(this.function, 'dynamodb:Scan');
    props.tables.jobs.grant(this.function, 'dynamodb:Query');
    props.stateMachine.grantStartExecution(this.function);
    // The sweep (core/jobs/execution-janitor.ts): the state of a quiet job's
    // execution (DescribeExecution, executions of the backup-job state
    // machine, and of the restore-job one for restore jobs); ending a job
    // (Jobs: GetItem, PutItem) and withdrawing its failed image (Catalog:
    // GetItem, then PutItem and DeleteItem in one transaction); the
    // reservations (Media: Query) and releasing one (GetItem, then DeleteItem
    // and UpdateItem in one transaction); recording the tape drive an ended
    // job held as possibly loaded (Media: Query the drives, GetItem, PutItem
    // in one transaction).
    for (const machine of [props.stateMachine, ...(props.restoreStateMachine ? [props.restoreStateMachine] : []), ...(props.verifyStateMachine ? [props.verifyStateMachine] : []), ...(props.duplicateStateMachine ? [props.duplicateStateMachine] : [])]) {
      machine.grantExecution(this.function, 'states:DescribeExecution');
      Validations.of(this.function.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${Stack.of(this).getLogicalId(machine.node.defaultChild as CfnElement)}"}]}]}:*]`,
        reason: 'DescribeExecution of any execution of the backup-job, restore-job, verify-job or duplicate-job state machine (the sweep looks up executions by the names jobs recorded); no other state machine',
      });
    }
    if (props.restoreStateMachine) this.function.addEnvironment(RESTORE_STATE_MACHINE_ARN_ENV, props.restoreStateMachine.stateMachineArn);
    if (props.verifyStateMachine) {
      // Scheduled verifies: StartExecution of the verify-job state machine, by the name the due decision builds.
      props.verifyStateMachine.grantStartExecution(this.function);
      this.function.addEnvironment(VERIFY_STATE_MACHINE_ARN_ENV, props.verifyStateMachine.stateMachineArn);
    }
    if (props.duplicateStateMachine) {
      // Policy copies: StartExecution of the duplicate-job state machine, by the name of (image, unit, attempt).
      props.duplicateStateMachine.grantStartExecution(this.function);
      this.function.addEnvironment(DUPLICATE_STATE_MACHINE_ARN_ENV, props.duplicateStateMachine.stateMachineArn);
    }
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem');
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem');
    props.tables.media.grant(this.function, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    // Abandoned multipart uploads in the image bucket (aws/multipart-sweep.ts): list them, list an old one's parts, abort it.
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucketMultipartUploads'], resources: [props.imageBucket.bucketArn] }));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListMultipartUploadParts', 's3:AbortMultipartUpload'], resources: [props.imageBucket.arnForObjects('*')] }));
    Validations.of(this.function.role!).acknowledge({
      id: bucketObjectsFinding(props.imageBucket, '*'),
      reason: 'The sweep aborts multipart uploads under any storage unit prefix of the image bucket (units are configured at run time); it can list parts and abort uploads, never read or delete an object',
    });
    // A job the sweep ends is a job state change: published like any other (lambdas/dynamo-deps.ts).
    grantPutJobEvents(this.function);
    // The cleanup (core/catalog/expire-images.ts): a client's images (Catalog: Query), an expiring image marked and
    // its row removed (GetItem, PutItem, DeleteItem, granted above); its folder's current objects listed and deleted
    // (aws/cloud-storage-opener.ts: delete markers; only the deletion role may destroy versions, which the bucket's
    // lifecycle expires); its volumes updated (Media, granted above).
    props.tables.catalog.grant(this.function, 'dynamodb:Query');
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.imageBucket.bucketArn] }));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [props.imageBucket.arnForObjects(IMAGE_OBJECT_KEYS)] }));
    Validations.of(this.function.role!).acknowledge({
      id: bucketObjectsFinding(props.imageBucket, IMAGE_OBJECT_KEYS),
      reason: 'The cleanup deletes expired images under <storage unit>/images/<client>/<backup id>/, chosen at run time; delete markers only (no s3:DeleteObjectVersion)',
    });

    if (props.agentCommandDocumentName) this.grantIdleUnload(props.agentCommandDocumentName, props.tables);

    // A group of its own, so the role's trust can name exactly where the schedule lives. It holds no data.
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Group', { removalPolicy: RemovalPolicy.DESTROY });
    this.scheduleRole = new iam.Role(this, 'ScheduleRole', {
      description: 'Cairn: EventBridge Scheduler invokes the scheduler tick',
      // Confused-deputy guard: only schedules of this account in Cairn's group may assume it.
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.scheduleGroup.env.account, 'aws:SourceArn': this.scheduleGroup.scheduleGroupArn } },
      }),
    });
    this.schedule = new scheduler.Schedule(this, 'Tick', {
      description: 'Cairn scheduler tick',
      schedule: scheduler.ScheduleExpression.rate(rate),
      scheduleGroup: this.scheduleGroup,
      timeWindow: scheduler.TimeWindow.off(),
      // LambdaInvoke would grant the function and its versions (`<arn>:*`); the
      // schedule invokes the unqualified ARN only, so the grant is ours (below)
      // and the target gets a view of the role it cannot add statements to.
      target: new targets.LambdaInvoke(this.function, { role: this.scheduleRole.withoutPolicyUpdates(), retryAttempts: SCHEDULER_RETRY_ATTEMPTS, maxEventAge }),
    });
    this.scheduleRole.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.function.functionArn] }));
    // The schedule names its group by a literal name, which CloudFormation cannot order by.
    this.schedule.node.addDependency(this.scheduleGroup);
  }

  /**
   * The idle drive unload (core/media/idle-unload.ts): SendCommand of the
   * operator's document only, to the robot's agent (a hybrid managed
   * instance or an EC2 instance, chosen at run time from the robot's
   * client), and GetCommandInvocation of what it sent (an action with no
   * resource type: `*`). It reserves the drive under a fresh job id (Jobs:
   * UpdateItem of the counter; Media: the reservation's transaction) and
   * records the drive (Media: PutItem in a transaction, granted above).
   */
  private grantIdleUnload(documentName: string, tables: CairnTables): void {
    tables.jobs.grant(this.function, 'dynamodb:UpdateItem');
    this.function.addEnvironment(AGENT_COMMAND_DOCUMENT_ENV, documentName);
    this.function.addToRolePolicy(sendAgentCommandStatement(this, documentName));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:GetCommandInvocation'], resources: ['*'] }));
    Validations.of(this.function.role!).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*]',
        reason: "The robot's agent instance is chosen at run time (the robot's client); SendCommand is also limited to the RunAgentCommand document",
      },
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
        reason: "EC2 agents are targets as hybrid ones are: the robot's agent instance is chosen at run time; SendCommand is also limited to the RunAgentCommand document",
      },
    );
    // ssm:GetCommandInvocation has no resource type: its `*` falls under the function's Resource::* finding,
    // acknowledged where every Cairn function gets it (cairn-function.ts).
  }
}
