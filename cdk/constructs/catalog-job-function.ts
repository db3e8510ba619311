import { Duration, Validations, type CfnElement, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { bucketObjectsFinding } from '../nag-findings.ts';
import type { CairnTables } from './cairn-tables.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { RESTORE_STATE_MACHINE_ARN_ENV, STATE_MACHINE_ARN_ENV, VERIFY_STATE_MACHINE_ARN_ENV } from './scheduler-function.ts';

/** The variable lambdas/catalog-job.ts, scheduler.ts and janitor.ts read the catalog-job state machine's ARN from. */
export const CATALOG_JOB_STATE_MACHINE_ARN_ENV = 'CATALOG_JOB_STATE_MACHINE_ARN';

/** The catalog job's Run limit: Lambda's longest, what a catalog backup or a full check of a large catalog may need. */
export const CATALOG_JOB_TIMEOUT = Duration.minutes(15);

/** The keys a catalog job writes and reads on an S3 unit of the image bucket: images (`<prefix>/images/...`) and the DR files next to them (`<prefix>/catalog-dr/...`). */
export const CATALOG_JOB_OBJECT_KEYS = ['*images/*', '*catalog-dr/*'] as const;

export interface CatalogJobFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
  /** The image bucket's key: the catalog image is written and the copies' manifests read with it. */
  readonly imageKey: kms.IKey;
  /** The job state machines whose executions the check looks up to tell a dead job (DescribeExecution only). */
  readonly stateMachines: { readonly backup: sfn.IStateMachine; readonly restore?: sfn.IStateMachine; readonly verify?: sfn.IStateMachine };
}

/**
 * The catalog-job Lambda (lambdas/catalog-job.ts): the catalog job's Queue
 * and Run (statemachines/catalog-job.asl.json), a scheduled catalog backup
 * or catalog check, with Lambda's longest timeout (the scheduler's 60 s is
 * too short for either). Its grants are what the two need and no more:
 *
 * - the four tables read whole (Scan: the backup's dump; the check's images and claims),
 *   the job records (Query by execution name and by state, GetItem, PutItem, UpdateItem),
 *   the image and claim written (PutItem, DeleteItem) and the check's repairs
 *   (Catalog, Media: GetItem, PutItem, UpdateItem, DeleteItem, Query);
 * - the image bucket: listed (the check's inventory), image objects read,
 *   written and deleted (an orphan the repair removes) under `*images/*`,
 *   DR files written under `*catalog-dr/*`, with the image key;
 * - DescribeExecution of the job state machines (a dead job);
 * - PutEvents of its job state changes. No SSM: nothing is sent to an agent.
 */
export class CatalogJobFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/catalog-job.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: CatalogJobFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: CatalogJobFunction.source(props.projectRoot),
      description: 'Cairn catalog jobs: a scheduled catalog backup (tables to a catalog image on S3) or catalog check',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
      timeout: CATALOG_JOB_TIMEOUT,
    });
    const { backup, restore, verify } = props.stateMachines;
    this.function.addEnvironment(STATE_MACHINE_ARN_ENV, backup.stateMachineArn);
    if (restore) this.function.addEnvironment(RESTORE_STATE_MACHINE_ARN_ENV, restore.stateMachineArn);
    if (verify) this.function.addEnvironment(VERIFY_STATE_MACHINE_ARN_ENV, verify.stateMachineArn);

    props.tables.config.grant(this.function, 'dynamodb:Scan', 'dynamodb:Query', 'dynamodb:GetItem');
    props.tables.jobs.grant(this.function, 'dynamodb:Scan', 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // ConditionCheckItem: committing the catalog image checks its claim in the same transaction (aws/dynamo-catalog-store.ts).
    props.tables.catalog.grant(this.function, 'dynamodb:Scan', 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem');
    props.tables.media.grant(this.function, 'dynamodb:Scan', 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');

    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.imageBucket.bucketArn] }));
    // Images: the catalog image written, copies' manifests and objects looked at, an orphan removed by a repair.
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [props.imageBucket.arnForObjects(CATALOG_JOB_OBJECT_KEYS[0])] }));
    // DR files: written only (recovery reads them with the operator's credentials).
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [props.imageBucket.arnForObjects(CATALOG_JOB_OBJECT_KEYS[1])] }));
    props.imageKey.grant(this.function, 'kms:Decrypt', 'kms:GenerateDataKey');
    Validations.of(this.function.role!).acknowledge(
      ...CATALOG_JOB_OBJECT_KEYS.map((keys) => ({
        id: bucketObjectsFinding(props.imageBucket, keys),
        reason: 'Storage units are prefixes of the image bucket chosen at run time: the catalog image and its DR file are written, and the check reads manifests and removes orphans, under <unit>/images/ and <unit>/catalog-dr/ only',
      })),
    );
    for (const machine of [backup, ...(restore ? [restore] : []), ...(verify ? [verify] : [])]) this.grantDescribe(machine);
    grantPutJobEvents(this.function);
  }

  /** DescribeExecution of a job state machine's executions (a dead job's), and of nothing else. */
  grantDescribe(machine: sfn.IStateMachine): void {
    machine.grantExecution(this.function, 'states:DescribeExecution');
    Validations.of(this.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${Stack.of(this).getLogicalId(machine.node.defaultChild as CfnElement)}"}]}]}:*]`,
      reason: 'DescribeExecution of any execution of a job state machine (the catalog check tells a dead job by the execution its job recorded); no other state machine',
    });
  }
}
