import * as iam from 'aws-cdk-lib/aws-iam';
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
 * bpdbm: commits image records once the agent reports the data durable. Reads
 * image manifests from the bucket (read only: the agent writes images, the
 * catalog never does), reads and writes the catalog and the jobs, reads settings.
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
    props.tables.catalog.grantReadWriteData(this.function);
    props.tables.jobs.grantReadWriteData(this.function);
    props.tables.config.grantReadData(this.function);
    // Manifests by key: GetObject, and ListBucket so a missing manifest is a 404
    // (NoSuchKey), not a 403. Decrypt on the bucket key, since objects are SSE-KMS.
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.imageBucket.arnForObjects('*')] }));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.imageBucket.bucketArn] }));
    props.imageBucket.encryptionKey?.grantDecrypt(this.function);
  }
}
