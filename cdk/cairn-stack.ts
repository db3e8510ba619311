import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, type Duration, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { tableEnvVar, tableNames } from '#aws/tables.ts';
import { AgentBundle } from './constructs/agent-bundle.ts';
import { AgentDocument } from './constructs/agent-document.ts';
import { AgentGrantsFunction } from './constructs/agent-grants-function.ts';
import { AgentRole } from './constructs/agent-role.ts';
import { BackupJobStateMachine } from './constructs/backup-job-state-machine.ts';
import { BrokerFunction } from './constructs/broker-function.ts';
import { CairnTablesConstruct } from './constructs/cairn-tables.ts';
import { CatalogFunction } from './constructs/catalog-function.ts';
import { DeletionRole } from './constructs/deletion-role.ts';
import { ImageStore, type ImageTransition, type ObjectLockSettings } from './constructs/image-store.ts';
import { JanitorFunction } from './constructs/janitor-function.ts';
import { JobsFunction } from './constructs/jobs-function.ts';
import { RestoreFunction } from './constructs/restore-function.ts';
import { RestoreJobStateMachine } from './constructs/restore-job-state-machine.ts';
import { VerifyFunction } from './constructs/verify-function.ts';
import { VerifyJobStateMachine } from './constructs/verify-job-state-machine.ts';
import { DuplicateFunction } from './constructs/duplicate-function.ts';
import { DuplicateJobStateMachine } from './constructs/duplicate-job-state-machine.ts';
import { CatalogJobFunction } from './constructs/catalog-job-function.ts';
import { CatalogJobStateMachine } from './constructs/catalog-job-state-machine.ts';
import { Monitoring } from './constructs/monitoring.ts';
import { REPORT_MESSAGE_FILTER, ReportFunction } from './constructs/report-function.ts';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { SchedulerFunction } from './constructs/scheduler-function.ts';
import { DEFAULT_SETTINGS, recordSettings, uniqueName } from './stack-settings.ts';

/** The repository root: package.json, package-lock.json, lambdas/, statemachines/. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Tags every resource gets unless the stack's `tags` say otherwise. */
export const DEFAULT_TAGS: Readonly<Record<string, string>> = Object.freeze({ Application: 'Cairn' });

/** What an alarm email address must look like before SNS is asked to confirm it. */
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export interface CairnStackProps extends StackProps {
  /**
   * First part of every physical name Cairn sets (context `namePrefix`):
   * `<prefix>-backup-job-<stack id>`, `<prefix>-reports-<stack id>`, ...
   * Default `cairn`. The stack id part keeps names unique across stacks and
   * redeployments, so the prefix only has to make them readable.
   */
  readonly namePrefix?: string;
  /** Retention of every log group (context `logRetention`, in days). Default one year. */
  readonly logRetention?: logs.RetentionDays;
  /** Memory of every Lambda, in MiB (context `lambdaMemory`). Default 512. */
  readonly lambdaMemoryMiB?: number;
  /**
   * Tags on every taggable resource, and on the CloudFormation stack (context
   * `tags`, a JSON object). Merged over DEFAULT_TAGS (`Application: Cairn`).
   */
  readonly tags?: Record<string, string>;
  /** Where alarm notifications go (context `alarmEmail`): an email subscription to the reports topic. Default none. */
  readonly alarmEmail?: string;
  /**
   * Create the image bucket with S3 Object Lock and this default retention
   * (context `objectLock`, `objectLockDays`). Default off.
   */
  readonly objectLock?: ObjectLockSettings;
  /** Days a deleted image object's bytes (noncurrent versions) are kept (context `noncurrentVersionDays`). Default 7. */
  readonly noncurrentVersionDays?: number;
  /** Lifecycle transitions of image objects to colder storage classes (context `imageTransitions`). Default none. */
  readonly imageTransitions?: readonly ImageTransition[];
  /**
   * Where completion reports go besides the alarm address (context
   * `reportEmail`): an email subscription to the reports topic that takes
   * reports only (a filter policy on `cairn-message: report`). Default none;
   * `alarmEmail` receives reports and alarms.
   */
  readonly reportEmail?: string;
  /** Where package.json, package-lock.json and lambdas/ live. Default: the repository root. */
  readonly projectRoot?: string;
  /** The backup-job ASL file. Default: statemachines/backup-job.asl.json under projectRoot. */
  readonly backupJobDefinitionPath?: string;
  /** The restore-job ASL file. Default: statemachines/restore-job.asl.json under projectRoot. */
  readonly restoreJobDefinitionPath?: string;
  /** The verify-job ASL file. Default: statemachines/verify-job.asl.json under projectRoot. */
  readonly verifyJobDefinitionPath?: string;
  /** The duplicate-job ASL file. Default: statemachines/duplicate-job.asl.json under projectRoot. */
  readonly duplicateJobDefinitionPath?: string;
  /** How often the scheduler ticks (context `schedulerRate`, in minutes). Default 1 minute. */
  readonly schedulerRate?: Duration;
}

/**
 * Cairn in the cloud: the tables, the image bucket, the job/broker/catalog
 * Lambdas, the backup-job state machine, the scheduler tick that starts it,
 * the SSM document and role the edge agents run with, and the reports topic.
 */
export class CairnStack extends Stack {
  readonly namePrefix: string;
  readonly logRetention: logs.RetentionDays;
  readonly lambdaMemoryMiB: number;
  /** The address alarm notifications are sent to, if any (monitoring subscribes it to the reports topic). */
  readonly alarmEmail?: string;
  /** The tags every resource carries. */
  readonly resourceTags: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: CairnStackProps = {}) {
    const resourceTags = Object.freeze({ ...DEFAULT_TAGS, ...props.tags });
    super(scope, id, { ...props, tags: resourceTags });
    const projectRoot = props.projectRoot ?? REPO_ROOT;
    const settings = {
      namePrefix: props.namePrefix ?? DEFAULT_SETTINGS.namePrefix,
      logRetention: props.logRetention ?? DEFAULT_SETTINGS.logRetention,
      lambdaMemoryMiB: props.lambdaMemoryMiB ?? DEFAULT_SETTINGS.lambdaMemoryMiB,
    };
    // First: every construct below reads them (stack-settings.ts settingsOf). Throws on a bad value.
    recordSettings(this, settings);
    ({ namePrefix: this.namePrefix, logRetention: this.logRetention, lambdaMemoryMiB: this.lambdaMemoryMiB } = settings);
    if (props.alarmEmail !== undefined && !EMAIL.test(props.alarmEmail)) throw new Error(`alarmEmail must be an email address, not ${JSON.stringify(props.alarmEmail)}`);
    if (props.reportEmail !== undefined && !EMAIL.test(props.reportEmail)) throw new Error(`reportEmail must be an email address, not ${JSON.stringify(props.reportEmail)}`);
    this.alarmEmail = props.alarmEmail;
    this.resourceTags = resourceTags;
    // Tags.of reaches every taggable resource, including those other constructs add later.
    // CloudFormation's AWS::CloudWatch::Dashboard takes no Tags (cfn-lint E3002), though aws-cdk-lib offers them.
    for (const [key, value] of Object.entries(resourceTags)) Tags.of(this).add(key, value, { excludeResourceTypes: ['AWS::CloudWatch::Dashboard'] });

    const { tables } = new CairnTablesConstruct(this, 'Tables');
    const images = new ImageStore(this, 'Images', { objectLock: props.objectLock, noncurrentVersionDays: props.noncurrentVersionDays, transitions: props.imageTransitions });

    const functionProps = { projectRoot, tables, imageBucket: images.bucket };
    const jobs = new JobsFunction(this, 'Jobs', functionProps);
    const broker = new BrokerFunction(this, 'Broker', functionProps);
    const catalog = new CatalogFunction(this, 'Catalog', functionProps);

    // The agent as one file, fetched and checked by the document on each host (cdk/constructs/agent-bundle.ts).
    const agentBundle = new AgentBundle(this, 'AgentBundle');
    const agentDocument = new AgentDocument(this, 'AgentDocument', { bundle: agentBundle, jobsTable: tables.jobs.tableName });
    // The operator's commands (`cairn --aws robot inventory`: the changer is read on the robot's host); no task token, the answer on stdout.
    const agentCommandDocument = new AgentDocument(this, 'AgentCommandDocument', { bundle: agentBundle, jobsTable: tables.jobs.tableName, runner: 'run-command' });
    const backupJob = new BackupJobStateMachine(this, 'BackupJob', {
      definitionPath: props.backupJobDefinitionPath ?? path.join(projectRoot, 'statemachines', 'backup-job.asl.json'),
      jobsFunction: jobs.function,
      brokerFunction: broker.function,
      catalogFunction: catalog.function,
      agentDocumentName: agentDocument.documentName,
    });
    // Restores of tape images (cairn --aws restore): its own function for Queue, Plan, Reserve and RecordRead.
    const restore = new RestoreFunction(this, 'Restore', functionProps);
    const restoreJob = new RestoreJobStateMachine(this, 'RestoreJob', {
      definitionPath: props.restoreJobDefinitionPath ?? path.join(projectRoot, 'statemachines', 'restore-job.asl.json'),
      restoreFunction: restore.function,
      jobsFunction: jobs.function,
      brokerFunction: broker.function,
      agentDocumentName: agentDocument.documentName,
    });
    // Verify jobs (cairn --aws verify, bpverify): its own function for Queue, Start, Record and a tape image's Plan, Reserve, RecordRead.
    const verify = new VerifyFunction(this, 'Verify', functionProps);
    const verifyJob = new VerifyJobStateMachine(this, 'VerifyJob', {
      definitionPath: props.verifyJobDefinitionPath ?? path.join(projectRoot, 'statemachines', 'verify-job.asl.json'),
      verifyFunction: verify.function,
      jobsFunction: jobs.function,
      brokerFunction: broker.function,
      agentDocumentName: agentDocument.documentName,
    });
    // Policy copies (a policy's `copies`, bpduplicate): its own function for Queue, Start and Record; the agent writes the copy.
    const duplicate = new DuplicateFunction(this, 'Duplicate', functionProps);
    const duplicateJob = new DuplicateJobStateMachine(this, 'DuplicateJob', {
      definitionPath: props.duplicateJobDefinitionPath ?? path.join(projectRoot, 'statemachines', 'duplicate-job.asl.json'),
      duplicateFunction: duplicate.function,
      jobsFunction: jobs.function,
      agentDocumentName: agentDocument.documentName,
    });
    // Depends on the state machine, never the reverse: the workflow does not know who starts it.
    // It sends the operator's document to unload drives kept loaded past their unit's mediaUnmountDelaySeconds.
    const schedulerTick = new SchedulerFunction(this, 'Scheduler', {
      ...functionProps,
      stateMachine: backupJob.stateMachine,
      restoreStateMachine: restoreJob.stateMachine,
      verifyStateMachine: verifyJob.stateMachine,
      duplicateStateMachine: duplicateJob.stateMachine,
      agentCommandDocumentName: agentCommandDocument.documentName,
      rate: props.schedulerRate,
    });
    // Ends the job of a backup or restore execution that stopped, timed out or failed, and releases what it holds.
    // A stopped backup job's snapshots are deleted by its agent (delete-snapshot, the operator's document).
    const janitor = new JanitorFunction(this, 'Janitor', { ...functionProps, stateMachine: backupJob.stateMachine, restoreStateMachine: restoreJob.stateMachine, verifyStateMachine: verifyJob.stateMachine, duplicateStateMachine: duplicateJob.stateMachine, agentCommandDocumentName: agentCommandDocument.documentName });
    // Scheduled catalog backups and checks (a policy's catalogBackup, catalogCheck): their own function, with Lambda's
    // longest timeout, and state machine; the scheduler starts them, its sweep and the janitor end their dead jobs.
    const catalogJobFunction = new CatalogJobFunction(this, 'CatalogJobFunction', { ...functionProps, imageKey: images.key, stateMachines: { backup: backupJob.stateMachine, restore: restoreJob.stateMachine, verify: verifyJob.stateMachine } });
    const catalogJob = new CatalogJobStateMachine(this, 'CatalogJob', { definitionPath: path.join(projectRoot, 'statemachines', 'catalog-job.asl.json'), catalogJobFunction, jobsFunction: jobs.function });
    catalogJob.grantToScheduler(schedulerTick.function);
    catalogJob.grantToJanitor(janitor.function, janitor.rule);
    const agent = new AgentRole(this, 'Agent', { jobsTable: tables.jobs, imageBucket: images.bucket, imageKey: images.key });
    // Writes each agent instance's client image prefixes into the agent role's grant policies.
    const agentGrants = new AgentGrantsFunction(this, 'AgentGrants', { ...functionProps, grantPolicies: agent.grantPolicies });
    agentBundle.grantRead(agent.role);
    // The only principal that may destroy image versions (the agent may only add delete markers).
    const deletion = new DeletionRole(this, 'Deletion', { imageBucket: images.bucket });

    // Completion reports (savegroup completion). Its own key, so that being able
    // to publish a report never implies being able to decrypt backup images.
    const reportsKey = new kms.Key(this, 'ReportsKey', {
      description: 'Cairn: encrypts the reports topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const reports = new sns.Topic(this, 'Reports', { topicName: uniqueName(this, 'reports'), masterKey: reportsKey, enforceSSL: true });
    // The completion report of each run and of each day (core/report/), published to the topic.
    const report = new ReportFunction(this, 'Report', { ...functionProps, topic: reports, topicKey: reportsKey });
    if (props.reportEmail !== undefined) reports.addSubscription(new subscriptions.EmailSubscription(props.reportEmail, { filterPolicy: REPORT_MESSAGE_FILTER }));
    const functions = { jobs: jobs.function, broker: broker.function, catalog: catalog.function, restore: restore.function, verify: verify.function, duplicate: duplicate.function, scheduler: schedulerTick.function, janitor: janitor.function, agentGrants: agentGrants.function, report: report.function, catalogJob: catalogJobFunction.function };
    new Monitoring(this, 'Monitoring', { stateMachine: backupJob.stateMachine, restoreStateMachine: restoreJob.stateMachine, verifyStateMachine: verifyJob.stateMachine, duplicateStateMachine: duplicateJob.stateMachine, catalogJobStateMachine: catalogJob.stateMachine, functions, scheduleGroup: schedulerTick.scheduleGroup, topic: reports, alarmEmail: props.alarmEmail });

    for (const name of tableNames) {
      // JobsTableName, ...: the names the agent and the CLI need (same variables as the Lambdas).
      const key = `${name[0]!.toUpperCase()}${name.slice(1)}TableName`;
      new CfnOutput(this, key, { value: tables[name].tableName, description: `${tableEnvVar[name]}` });
    }
    new CfnOutput(this, 'ImageBucketName', { value: images.bucket.bucketName, description: 'IMAGE_BUCKET' });
    new CfnOutput(this, 'ImageKeyArn', { value: images.key.keyArn });
    new CfnOutput(this, 'BackupJobStateMachineArn', { value: backupJob.stateMachine.stateMachineArn });
    new CfnOutput(this, 'RestoreJobStateMachineArn', { value: restoreJob.stateMachine.stateMachineArn, description: 'restores of tape images (cairn --aws restore)' });
    new CfnOutput(this, 'VerifyJobStateMachineArn', { value: verifyJob.stateMachine.stateMachineArn, description: 'verify jobs (cairn --aws verify)' });
    new CfnOutput(this, 'DuplicateJobStateMachineArn', { value: duplicateJob.stateMachine.stateMachineArn, description: 'duplicate jobs (the policy copies the scheduler starts)' });
    new CfnOutput(this, 'CatalogJobStateMachineArn', { value: catalogJob.stateMachine.stateMachineArn, description: 'scheduled catalog backups and checks (a policy\'s catalogBackup, catalogCheck)' });
    new CfnOutput(this, 'SchedulerFunctionName', { value: schedulerTick.function.functionName, description: 'the scheduler tick (aws lambda invoke to tick now)' });
    new CfnOutput(this, 'AgentDocumentName', { value: agentDocument.documentName });
    new CfnOutput(this, 'AgentCommandDocumentName', { value: agentCommandDocument.documentName, description: 'operator commands on an agent host (cairn --aws robot inventory)' });
    new CfnOutput(this, 'AgentRoleArn', { value: agent.role.roleArn });
    new CfnOutput(this, 'AgentRoleName', { value: agent.role.roleName, description: 'the role of hybrid activations (cairn --aws agent activate)' });
    new CfnOutput(this, 'AgentInstanceProfileName', { value: agent.instanceProfile.instanceProfileName, description: 'for EC2 instances that run the agent' });
    new CfnOutput(this, 'AgentGrantsFunctionName', { value: agentGrants.function.functionName, description: 'rewrites the agent grants from the client mapping (aws lambda invoke after the first deploy)' });
    new CfnOutput(this, 'ReportsTopicArn', { value: reports.topicArn });
    new CfnOutput(this, 'ReportsTopicName', { value: reports.topicName });
    new CfnOutput(this, 'ReportFunctionName', { value: report.function.functionName, description: 'publishes completion reports (aws lambda invoke --payload \'{"since":"24h"}\')' });
    new CfnOutput(this, 'DeletionRoleArn', { value: deletion.role.roleArn, description: 'the only principal that may delete image object versions' });
    new CfnOutput(this, 'AccessLogBucketName', { value: images.accessLogs.bucketName, description: 'S3 server access logs of the image bucket' });
  }
}
