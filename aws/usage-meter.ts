import { addUsage, emptyUsage, type UsageCounters, type UsageDelta } from '#core/model/job-usage.ts';

/**
 * Counts the billed requests a process's SDK clients make, as the services
 * bill them (core/model/job-usage.ts): DynamoDB capacity units as DynamoDB
 * returns them (the meter asks for them with `ReturnConsumedCapacity:
 * TOTAL`), S3 requests by price class and the bytes sent and received. One
 * process works for one job at a time (a Lambda invocation, an agent task),
 * so what the meter counted between two looks is that job's.
 */
export class UsageMeter {
  #counts: UsageCounters = emptyUsage();

  add(delta: UsageDelta): void {
    this.#counts = addUsage(this.#counts, delta);
  }

  /** Everything counted since the last `take` (or since the meter was made). */
  snapshot(): UsageCounters {
    return { ...this.#counts };
  }

  /** Everything counted since the last `take`, and starts again from zero. */
  take(): UsageCounters {
    const taken = this.#counts;
    this.#counts = emptyUsage();
    return taken;
  }
}

/** The part of an SDK client the meter hooks into (as in call-recorder.ts). */
interface MiddlewareHost {
  middlewareStack: { add(middleware: never, options: never): void };
}

type Initialize = (
  next: (args: { input: Record<string, unknown> }) => Promise<{ output?: Record<string, unknown> }>,
  context: { clientName?: string; commandName?: string },
) => (args: { input: Record<string, unknown> }) => Promise<{ output?: Record<string, unknown> }>;

const DYNAMO_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems', 'BatchWriteItem']);
const DYNAMO_READS = new Set(['GetItem', 'Query', 'Scan', 'TransactGetItems', 'BatchGetItem']);

/** S3 Standard request classes (https://aws.amazon.com/s3/pricing/, "Requests & data retrievals"): DELETE and abort are free, PUT/COPY/POST/LIST tier 1, the rest tier 2. */
const S3_FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);
const S3_TIER1 = new Set([
  'PutObject',
  'CopyObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
  'ListMultipartUploads',
  'ListParts',
  'ListBuckets',
  'PutObjectTagging',
  'PutObjectRetention',
  'PutObjectLegalHold',
]);

/**
 * Adds the meter to a client, in the initialize step (outside the retries):
 * it sees the whole call, its answer's capacity units and `$metadata.attempts`,
 * so every attempt the SDK made is a request counted. Clients of other
 * services (Step Functions, SSM: their API calls are not billed per request)
 * pass through uncounted.
 */
export function meterCalls(client: MiddlewareHost, meter: UsageMeter): void {
  const middleware: Initialize = (next, context) => async (args) => {
    const operation = (context.commandName ?? '').replace(/Command$/, '');
    const service = context.clientName;
    if (service === 'DynamoDBClient' && (DYNAMO_WRITES.has(operation) || DYNAMO_READS.has(operation))) return meterDynamo(next, args, operation, meter);
    if (service === 'S3Client') return meterS3(next, args, operation, meter);
    return next(args);
  };
  client.middlewareStack.add(middleware as never, { step: 'initialize', name: 'cairnUsageMeter', override: true } as never);
}

async function meterDynamo(next: Parameters<Initialize>[0], args: { input: Record<string, unknown> }, operation: string, meter: UsageMeter): ReturnType<ReturnType<Initialize>> {
  const write = DYNAMO_WRITES.has(operation);
  try {
    const result = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: 'TOTAL' } });
    const units = consumedUnits(result.output?.ConsumedCapacity);
    const requests = attemptsOf(result.output);
    if (write) meter.add(units === undefined ? { dynamoWriteRequests: requests, dynamoWritesUnmeasured: 1 } : { dynamoWriteRequests: requests, dynamoWriteUnits: units });
    else meter.add({ dynamoReadRequests: requests, dynamoReadUnits: units ?? 0 });
    return result;
  } catch (error) {
    // A refused conditional write consumes write units that the error does not report; a failed read consumes none.
    if (write) meter.add({ dynamoWriteRequests: attemptsOf(error), dynamoWritesUnmeasured: 1 });
    else meter.add({ dynamoReadRequests: attemptsOf(error) });
    throw error;
  }
}

async function meterS3(next: Parameters<Initialize>[0], args: { input: Record<string, unknown> }, operation: string, meter: UsageMeter): ReturnType<ReturnType<Initialize>> {
  const counter = S3_FREE.has(operation) ? 's3FreeRequests' : S3_TIER1.has(operation) ? 's3Tier1Requests' : 's3Tier2Requests';
  const sent = operation === 'PutObject' || operation === 'UploadPart' ? bodyBytes(args.input) : 0;
  try {
    const result = await next(args);
    const received = operation === 'GetObject' ? Number(result.output?.ContentLength ?? 0) : 0;
    meter.add({ [counter]: attemptsOf(result.output), s3BytesUp: sent, s3BytesDown: Number.isFinite(received) ? received : 0 });
    return result;
  } catch (error) {
    meter.add({ [counter]: attemptsOf(error) });
    throw error;
  }
}

/** How many attempts the SDK made (its retries are billed requests too); 1 when it does not say. */
function attemptsOf(outputOrError: unknown): number {
  const attempts = (outputOrError as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata?.attempts;
  return typeof attempts === 'number' && attempts >= 1 ? attempts : 1;
}

/** The capacity units of an answer: one ConsumedCapacity, or one per table (transactions, batches). */
function consumedUnits(consumed: unknown): number | undefined {
  if (consumed === undefined || consumed === null) return undefined;
  const list = Array.isArray(consumed) ? consumed : [consumed];
  if (list.length === 0) return undefined;
  let units = 0;
  for (const entry of list as { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number }[]) {
    units += entry.CapacityUnits ?? (entry.ReadCapacityUnits ?? 0) + (entry.WriteCapacityUnits ?? 0);
  }
  return units;
}

/** The bytes an upload request sends: its ContentLength, or its body's length when the body is in memory. */
function bodyBytes(input: Record<string, unknown>): number {
  if (typeof input.ContentLength === 'number') return input.ContentLength;
  const body = input.Body;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
}
