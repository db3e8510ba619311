import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, type Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
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
import { ImageStore } from './constructs/image-store.ts';
import { JanitorFunction } from './constructs/janitor-function.ts';
import { JobsFunction } from './constructs/jobs-function.ts';
import { Monitoring } from './constructs/monitoring.ts';
import { SchedulerFunction } from './constructs/scheduler-function.ts';

/** The repository root: package.json, package-lock.json, lambdas/, statemachines/. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export const REPORTS_TOPIC_NAME = 'cairn-reports';

export interface CairnStackProps extends StackProps {
  /** Create the image bucket with S3 Object Lock (context `objectLock`). Default off. */
  readonly objectLock?: boolean;
  /** Where package.json, package-lock.json and lambdas/ live. Default: the repository root. */
  readonly projectRoot?: string;
  /** The backup-job ASL file. Default: statemachines/backup-job.asl.json under projectRoot. */
  readonly backupJobDefinitionPath?: string;
  /** How often the scheduler ticks (context `schedulerRate`, in minutes). Default 1 minute. */
  readonly schedulerRate?: Duration;
  /** Subscribes this address to the reports topic, where every alarm notifies. Default: none. */
  readonly alarmEmail?: string;
}

/**
 * Cairn in the cloud: the tables, the image bucket, the job/broker/catalog
 * Lambdas, the backup-job state machine, the scheduler tick that starts it,
 * the SSM document and role the edge agents run with, and the reports topic.
 */
export class CairnStack extends Stack {
  constructor(scope: Construct, id: string, props: CairnStackProps = {}) {
    super(scope, id, props);
    const projectRoot = props.projectRoot ?? REPO_ROOT;

    const { tables } = new CairnTablesConstruct(this, 'Tables');
    const images = new ImageStore(this, 'Images', { objectLock: props.objectLock ?? false });

    const functionProps = { projectRoot, tables, imageBucket: images.bucket };
    const jobs = new JobsFunction(this, 'Jobs', functionProps);
    const broker = new BrokerFunction(this, 'Broker', functionProps);
    const catalog = new CatalogFunction(this, 'Catalog', functionProps);

    // The agent as one file, fetched and checked by the document on each host (cdk/constructs/agent-bundle.ts).
    const agentBundle = new AgentBundle(this, 'AgentBundle');
    const agentDocument = new AgentDocument(this, 'AgentDocument', { bundle: agentBundle, jobsTable: tables.jobs.tableName });
    const backupJob = new BackupJobStateMachine(this, 'BackupJob', {
      definitionPath: props.backupJobDefinitionPath ?? path.join(projectRoot, 'statemachines', 'backup-job.asl.json'),
      jobsFunction: jobs.function,
      brokerFunction: broker.function,
      catalogFunction: catalog.function,
      agentDocumentName: agentDocument.documentName,
    });
    // Depends on the state machine, never the reverse: the workflow does not know who starts it.
    const schedulerTick = new SchedulerFunction(this, 'Scheduler', { ...functionProps, stateMachine: backupJob.stateMachine, rate: props.schedulerRate });
    // Ends the job of an execution that stopped, timed out or failed, and releases what it holds.
    const janitor = new JanitorFunction(this, 'Janitor', { ...functionProps, stateMachine: backupJob.stateMachine });
    const agent = new AgentRole(this, 'Agent', { jobsTable: tables.jobs, imageBucket: images.bucket, imageKey: images.key });
    // Writes each agent instance's client image prefixes into the agent role's grant policies.
    const agentGrants = new AgentGrantsFunction(this, 'AgentGrants', { ...functionProps, grantPolicies: agent.grantPolicies });
    agentBundle.grantRead(agent.role);

    // Completion reports (savegroup completion). Its own key, so that being able
    // to publish a report never implies being able to decrypt backup images.
    const reportsKey = new kms.Key(this, 'ReportsKey', {
      description: 'Cairn: encrypts the reports topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const reports = new sns.Topic(this, 'Reports', { topicName: REPORTS_TOPIC_NAME, masterKey: reportsKey, enforceSSL: true });
    const functions = { jobs: jobs.function, broker: broker.function, catalog: catalog.function, scheduler: schedulerTick.function, janitor: janitor.function, agentGrants: agentGrants.function };
    new Monitoring(this, 'Monitoring', { stateMachine: backupJob.stateMachine, functions, scheduleGroup: schedulerTick.scheduleGroup, topic: reports, alarmEmail: props.alarmEmail });

    for (const name of tableNames) {
      // JobsTableName, ...: the names the agent and the CLI need (same variables as the Lambdas).
      const key = `${name[0]!.toUpperCase()}${name.slice(1)}TableName`;
      new CfnOutput(this, key, { value: tables[name].tableName, description: `${tableEnvVar[name]}` });
    }
    new CfnOutput(this, 'ImageBucketName', { value: images.bucket.bucketName, description: 'IMAGE_BUCKET' });
    new CfnOutput(this, 'ImageKeyArn', { value: images.key.keyArn });
    new CfnOutput(this, 'BackupJobStateMachineArn', { value: backupJob.stateMachine.stateMachineArn });
    new CfnOutput(this, 'SchedulerFunctionName', { value: schedulerTick.function.functionName, description: 'the scheduler tick (aws lambda invoke to tick now)' });
    new CfnOutput(this, 'AgentDocumentName', { value: agentDocument.documentName });
    new CfnOutput(this, 'AgentRoleArn', { value: agent.role.roleArn });
    new CfnOutput(this, 'AgentRoleName', { value: agent.role.roleName, description: 'the role of hybrid activations (cairn --aws agent activate)' });
    new CfnOutput(this, 'AgentInstanceProfileName', { value: agent.instanceProfile.instanceProfileName, description: 'for EC2 instances that run the agent' });
    new CfnOutput(this, 'AgentGrantsFunctionName', { value: agentGrants.function.functionName, description: 'rewrites the agent grants from the client mapping (aws lambda invoke after the first deploy)' });
    new CfnOutput(this, 'ReportsTopicArn', { value: reports.topicArn });
  }
}
