import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

export interface BrokerFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
}

/**
 * nbrb / nbemm: reserves and releases storage-unit slots, drives and volumes in
 * one transaction. Reads and writes the media database and the jobs (waiting
 * reasons, ACTIVE); claims backup ids in the catalog and reads the images an
 * incremental is based on; reads policies and storage units.
 */
export class BrokerFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/broker.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: BrokerFunction.source(props.projectRoot),
      description: 'Cairn broker: atomic reservation of storage units, drives and volumes',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // Exactly what lambdas/broker.ts calls (test/iam checks it). A reservation and
    // its unit's slot counter change in one TransactWriteItems (Put/Delete the
    // reservation, Update the counter); the job is read and written back. For a tape
    // unit it reads the media manager's robot, drives and volumes and every current
    // reservation (Query of their partitions), moves a scratch volume into the pool,
    // and at Release records the drive's loaded volume and the mount (Puts in a
    // TransactWriteItems: aws/dynamo-media-manager.ts).
    props.tables.media.grant(this.function, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    // UpdateItem: each invocation adds its usage to the job's usage item (lambdas/usage-recording.ts).
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    props.tables.config.grant(this.function, 'dynamodb:GetItem');
    // Claims each job's backup id (a Put with a ConditionCheck on the image item;
    // when a claim of that id exists, a GetItem says whether it is this job's own:
    // a retried step, or another job of the client in the same second), and finds
    // the base image of an incremental (Query of the client's images).
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:ConditionCheckItem', 'dynamodb:Query');
    // Publishes the state changes of the jobs it granted resources (QUEUED → ACTIVE) to the default event bus.
    grantPutJobEvents(this.function);
  }
}
