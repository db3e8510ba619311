import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

export interface RestoreFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
}

/**
 * The restore job's own Task states (restore-job.asl.json: Queue, Plan,
 * Reserve, RecordRead; lambdas/restore-handler.ts). Release and EndJob are
 * the broker's and the jobs function's, as in the backup job.
 */
export class RestoreFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/restore.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: RestoreFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: RestoreFunction.source(props.projectRoot),
      description: 'Cairn restore jobs: queue, plan and reserve the volumes of a tape image',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // Exactly what lambdas/restore.ts calls (test/iam records it): the job id counter and the job
    // records (Queue, Plan, Reserve's waiting reason, RecordRead) and each invocation's usage item
    // (GetItem, PutItem, UpdateItem); the image (GetItem); the unit and the client's settings; for
    // Reserve, the media manager's robot, drives, volumes and current reservations (GetItem, Query),
    // the drive and volume reserved in one TransactWriteItems of Puts (aws/dynamo-media-manager.ts).
    // Release is the broker's, so no DeleteItem or UpdateItem on Media.
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem');
    props.tables.config.grant(this.function, 'dynamodb:GetItem');
    props.tables.media.grant(this.function, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem');
    // Publishes the state changes of the restore jobs it queued and granted drives to.
    grantPutJobEvents(this.function);
  }
}
