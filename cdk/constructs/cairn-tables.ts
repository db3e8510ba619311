import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { tableKeySchema, tableNames, type TableName } from '#aws/tables.ts';

/** One DynamoDB table per store port, keyed by the names in aws/tables.ts. */
export type CairnTables = Readonly<Record<TableName, dynamodb.Table>>;

const attributeType = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
} as const;

const constructIds: Record<TableName, string> = {
  config: 'ConfigTable',
  jobs: 'JobsTable',
  catalog: 'CatalogTable',
  media: 'MediaTable',
};

/**
 * The tables hold the job database, the media database and the image catalog:
 * losing them loses the ability to find a backup. So: on-demand (a backup domain
 * is bursty), point-in-time recovery, encryption at rest with the AWS managed key
 * (no key policy to get wrong; every grant stays an IAM grant on the table),
 * deletion protection, and RETAIN so deleting the stack never deletes them.
 */
export class CairnTablesConstruct extends Construct {
  readonly tables: CairnTables;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const tables = {} as Record<TableName, dynamodb.Table>;
    for (const name of tableNames) {
      tables[name] = new dynamodb.Table(this, constructIds[name], {
        partitionKey: { name: tableKeySchema.partitionKey.name, type: attributeType[tableKeySchema.partitionKey.type] },
        sortKey: { name: tableKeySchema.sortKey.name, type: attributeType[tableKeySchema.sortKey.type] },
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
        // Config changes (the client → instance mapping) trigger the agent-grants function; keys are all it reads.
        ...(name === 'config' ? { stream: dynamodb.StreamViewType.KEYS_ONLY } : {}),
      });
    }
    this.tables = Object.freeze(tables);
  }
}
