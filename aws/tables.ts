/**
 * The DynamoDB tables, described once for the CDK stack, the adapters and the
 * emulator test setup. Every table has a string partition key `pk` and sort
 * key `sk`; the item layouts are documented next to each adapter.
 *
 * Config   pk=POLICY|STU|SETTING, sk=name
 * Jobs     pk=JOB, sk=12-digit job id (one partition keeps "newest first" a single Query;
 *          a backup domain starts far fewer than the 1,000 writes/s a partition takes);
 *          pk=COUNTER, sk=jobId holds the job-id counter
 * Catalog  pk=client, sk=backupId (`<client>_<epochSeconds>`, so a client's images sort by time)
 * Media    pk=RES, sk=12-digit job id for reservations; pk=STU, sk=name holds a unit's slots in use;
 *          the media manager's records: pk=ROBOT|DRIVE|POOL|VOLUME, sk=name or media id (aws/dynamo-media-manager.ts)
 */
export const tableNames = ['config', 'jobs', 'catalog', 'media'] as const;
export type TableName = (typeof tableNames)[number];

/** Environment variable that carries each table's physical name into Lambdas and the agent. */
export const tableEnvVar: Record<TableName, string> = {
  config: 'CONFIG_TABLE',
  jobs: 'JOBS_TABLE',
  catalog: 'CATALOG_TABLE',
  media: 'MEDIA_TABLE',
};

export const tableKeySchema = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
} as const;

export const IMAGE_BUCKET_ENV = 'IMAGE_BUCKET';
