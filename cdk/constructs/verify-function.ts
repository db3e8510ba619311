import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

export interface VerifyFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
}

/**
 * The verify job's own Task states (verify-job.asl.json: Queue, Start,
 * Record for a disk or S3 image; Plan, Reserve, RecordRead for a tape
 * image's volumes; lambdas/verify-handler.ts). Release and EndJob are the
 * broker's and the jobs function's, as in the restore job. It reads no
 * image byte: the agent does.
 */
export class VerifyFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/verify.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: VerifyFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: VerifyFunction.source(props.projectRoot),
      description: 'Cairn verify jobs: queue, start and record; plan and reserve the volumes of a tape image',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // What lambdas/verify.ts calls, as the restore function's: the job id counter and the job records
    // and each invocation's usage item (GetItem, PutItem, UpdateItem); the image (GetItem); the unit and
    // the client's settings (GetItem); for a tape image's Reserve, the media manager's robot, drives,
    // volumes and reservations (GetItem, Query) and the drive and volume reserved (TransactWriteItems of
    // Puts). Release is the broker's, so no DeleteItem or UpdateItem on Media. A restore rehearsal's Queue and
    // Start list the client's images (Query, as the broker's base choice): its latest view and the chain behind it.
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:Query');
    props.tables.config.grant(this.function, 'dynamodb:GetItem');
    props.tables.media.grant(this.function, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem');
    // Publishes the state changes of the verify jobs it queues, starts and grants drives to.
    grantPutJobEvents(this.function);
  }
}
