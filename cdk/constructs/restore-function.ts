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
    // What lambdas/restore.ts calls: the job id counter and job records (Queue, Plan, RecordRead,
    // and each invocation's usage item: UpdateItem); the image and its fragments (Queue, Plan:
    // GetItem, Query); the unit and the client's settings; and, for Reserve, the media manager's
    // robot, drives, volumes and reservations, with the drive and volume reservation written in
    // one TransactWriteItems (core/broker/restore-reservation.ts, aws/dynamo-media-manager.ts).
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:Query');
    props.tables.config.grant(this.function, 'dynamodb:GetItem');
    props.tables.media.grant(this.function, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    // Publishes the state changes of the restore jobs it queued and granted drives to.
    grantPutJobEvents(this.function);
  }
}
