import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { grantPutJobEvents } from './job-events-grant.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

export interface JobsFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
}

/**
 * nbjm / bpjobd: allocates job ids and keeps the job database (queue, finish).
 * Reads policies and settings; reads and writes jobs. Nothing else.
 */
export class JobsFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/jobs.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: JobsFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: JobsFunction.source(props.projectRoot),
      description: 'Cairn jobs: job ids and the job database',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // Exactly what lambdas/jobs.ts calls (test/iam checks it): the job id counter
    // (UpdateItem), job records (GetItem, PutItem; a scheduled job and its
    // execution-name claim in one TransactWriteItems of two Puts), settings and policies.
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    props.tables.config.grant(this.function, 'dynamodb:GetItem');
    // Publishes the state changes of the jobs it queued, retried and ended to the default event bus.
    grantPutJobEvents(this.function);
  }
}
