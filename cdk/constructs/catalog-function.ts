import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

export interface CatalogFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
}

/**
 * bpdbm: commits image records once the agent reports the data durable, from
 * the agent's result: it writes the catalog and the job (and, for tape, the
 * volumes in the media manager), and never touches the bucket.
 */
export class CatalogFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/catalog.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: CatalogFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: CatalogFunction.source(props.projectRoot),
      description: 'Cairn catalog: image records and file index lookups',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
    });
    // Exactly what lambdas/catalog.ts calls (test/iam checks it): the commit
    // replaces the claim with the image in one TransactWriteItems (Put the image,
    // Delete the claim), and ends the job's catalog step on its record. It reads
    // nothing from the bucket: the agent's result carries what the image record needs.
    // GetItem: an incremental's base is read after the commit, and the image withdrawn if the base expired
    // meanwhile (core/catalog/catalog-service.ts, the Catalog step's side of the race with the cleanup).
    props.tables.catalog.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem');
    // UpdateItem: each invocation adds its usage to the job's usage item (lambdas/usage-recording.ts).
    props.tables.jobs.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // An image with fragments on tape: each volume it wrote is read and written back in the
    // media manager (tape files, bytes, images, expiration: core/catalog/tape-writes.ts), a Put
    // in a TransactWriteItems conditional on the record's version.
    props.tables.media.grant(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem');
  }
}
