import { writeFile } from 'node:fs/promises';
import { BatchWriteCommand, ScanCommand, type BatchWriteCommandInput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { backoff, dynamoFailure } from './dynamo-support.ts';
import { tableNames, type TableName } from './tables.ts';

export const TABLE_DUMP_FORMAT = 'cairn-dynamodb-tables';
export const TABLE_DUMP_VERSION = 1;
/** The name of the tables' copy inside a cloud catalog image (`cairn --aws catalog backup`, the catalog-job Lambda). */
export const TABLES_FILE = 'tables.json';

/** The cloud catalog's copy in a catalog image: every item of every table, as the document client reads them (plain JSON). */
export const TableDump = z
  .object({
    format: z.literal(TABLE_DUMP_FORMAT),
    formatVersion: z.literal(TABLE_DUMP_VERSION),
    tables: z.object({ config: z.array(z.record(z.string(), z.unknown())), jobs: z.array(z.record(z.string(), z.unknown())), catalog: z.array(z.record(z.string(), z.unknown())), media: z.array(z.record(z.string(), z.unknown())) }).strict(),
  })
  .strict();
export type TableDump = z.output<typeof TableDump>;

type WriteRequests = NonNullable<BatchWriteCommandInput['RequestItems']>[string];

/** BatchWriteItem's limit per call. */
const BATCH = 25;
const MAX_UNPROCESSED_ATTEMPTS = 10;

/** The four tables dumped (dumpTables) into `file` as JSON, owner-only: the catalog copy a cloud catalog image holds. */
export async function dumpTablesToFile(client: DynamoDBDocumentClient, names: Record<TableName, string>, file: string): Promise<void> {
  await writeFile(file, JSON.stringify(await dumpTables(client, names)), { mode: 0o600 });
}

/**
 * Every item of the four tables, by a paginated Scan with strongly
 * consistent reads, one table after the other. Why a scan and not
 * ExportTableToPointInTime: an export needs point-in-time recovery on the
 * table and writes to S3 in its own layout, asynchronously, and the
 * emulators the tests run on (moto_server, LocalStack community) do not
 * implement it faithfully; the tables of a backup domain are small (one
 * item per image, job, unit, volume), so a scan is seconds. Its limit:
 * each table is read consistently, but not the four at one instant: run
 * it when no job is being catalogued (the scheduler suspended), or accept
 * that a job ending during it may be recorded in one table and not another
 * (`cairn catalog check` finds such a difference).
 */
export async function dumpTables(client: DynamoDBDocumentClient, names: Record<TableName, string>): Promise<TableDump> {
  const tables = { config: [], jobs: [], catalog: [], media: [] } as TableDump['tables'];
  for (const table of tableNames) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: names[table], ConsistentRead: true, ExclusiveStartKey: start })).catch((error: unknown) => {
        throw dynamoFailure('Scan', names[table], error);
      });
      tables[table].push(...((page.Items ?? []) as Record<string, unknown>[]));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }
  return { format: TABLE_DUMP_FORMAT, formatVersion: TABLE_DUMP_VERSION, tables };
}

/** How many items each table has (a Select COUNT scan): what `recover` refuses to overwrite without force. */
export async function countItems(client: DynamoDBDocumentClient, names: Record<TableName, string>): Promise<Record<TableName, number>> {
  const counts = { config: 0, jobs: 0, catalog: 0, media: 0 };
  for (const table of tableNames) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: names[table], Select: 'COUNT', ExclusiveStartKey: start }));
      counts[table] += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }
  return counts;
}

/**
 * Writes every item of the dump back into the tables (BatchWriteItem, 25
 * at a time, unprocessed items retried with backoff). Items are put as
 * they were: an item that exists is replaced, one the tables have and the
 * dump has not is left (recover refuses non-empty tables unless forced).
 */
export async function loadTables(client: DynamoDBDocumentClient, names: Record<TableName, string>, dump: TableDump): Promise<Record<TableName, number>> {
  const written = { config: 0, jobs: 0, catalog: 0, media: 0 };
  for (const table of tableNames) {
    const items = dump.tables[table];
    for (let i = 0; i < items.length; i += BATCH) {
      let requests: WriteRequests = items.slice(i, i + BATCH).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt >= MAX_UNPROCESSED_ATTEMPTS) throw new CairnError(StatusCode.INTERNAL_ERROR, `table ${names[table]}: ${requests.length} items were still unprocessed after ${MAX_UNPROCESSED_ATTEMPTS} attempts`);
        if (attempt > 0) await backoff(attempt);
        const out = await client.send(new BatchWriteCommand({ RequestItems: { [names[table]]: requests } })).catch((error: unknown) => {
          throw dynamoFailure('BatchWriteItem', names[table], error);
        });
        requests = (out.UnprocessedItems?.[names[table]] ?? []) as WriteRequests;
      }
      written[table] += Math.min(BATCH, items.length - i);
    }
  }
  return written;
}
