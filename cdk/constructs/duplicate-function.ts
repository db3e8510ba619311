import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

export interface DuplicateFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
}

/**
 * The duplicate job's own Task states (duplicate-job.asl.json: Queue, Start,
 * Record; lambdas/duplicate-handler.ts). EndJob is the jobs function's. It
 * moves no image byte (the agent writes the copy): it reads the image and
 * the units, and commits the written copy to the image record.
 */
export class DuplicateFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/duplicate.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: DuplicateFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: DuplicateFunction.source(props.projectRoot),
      description: 'Cairn duplicate jobs (policy copies): queue, start and record the copy the agent wrote',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // What lambdas/duplicate.ts calls (test/iam checks it): the job id counter, the job records and each
    // invocation's usage item (GetItem, PutItem, UpdateItem); the image (GetItem), and Record's
    // compare-and-set of the image record with the copy added (a conditional PutItem); the units and the
    // client's agent instance (Config: GetItem). No Media: the cloud duplicate job reserves nothing.
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem');
    props.tables.config.grant(this.function, 'dynamodb:GetItem');
    // Publishes the state changes of the duplicate jobs it queues and starts.
    grantPutJobEvents(this.function);
  }
}
