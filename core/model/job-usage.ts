import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/**
 * What a job used of the billed cloud services, counted where it happened
 * (never estimated from a formula): each figure is a count the code made of
 * its own requests, or a quantity the service returned with its answer.
 *
 * - Lambda: `lambdaInvocations` of the workflow's functions for this job;
 *   `lambdaBilledMs` the handler time each measured of itself, rounded up
 *   to the millisecond as Lambda rounds; `lambdaArmMbMs` / `lambdaX86MbMs`
 *   that time times the function's memory size (MB × ms), by architecture,
 *   since the two are priced apart; `lambdaColdStarts` how many of the
 *   invocations were the first of their execution environment (Lambda bills
 *   their init phase too, which no handler can time).
 * - DynamoDB: requests, and the capacity units DynamoDB returned for them
 *   (`ReturnConsumedCapacity`). A write whose units did not come back (a
 *   refused conditional write, or the write that carries the count itself)
 *   is in `dynamoWritesUnmeasured`: DynamoDB charges at least one unit for it.
 * - S3: requests by price class (PUT, COPY, POST, LIST; GET, HEAD and the
 *   rest; the free DELETE and AbortMultipartUpload), every attempt counted
 *   (the SDK's retries are requests too), and the bytes sent and received.
 *
 * Step Functions state transitions are not here: they are read from the
 * execution's history when asked (aws/sfn-execution-history.ts).
 */
export const USAGE_COUNTERS = [
  'lambdaInvocations',
  'lambdaColdStarts',
  'lambdaBilledMs',
  'lambdaArmMbMs',
  'lambdaX86MbMs',
  'dynamoWriteRequests',
  'dynamoWriteUnits',
  'dynamoWritesUnmeasured',
  'dynamoReadRequests',
  'dynamoReadUnits',
  's3Tier1Requests',
  's3Tier2Requests',
  's3FreeRequests',
  's3BytesUp',
  's3BytesDown',
] as const;
export type UsageCounter = (typeof USAGE_COUNTERS)[number];

const count = z.number().finite().min(0);

/** Every counter, 0 when absent (records from before a counter existed read as 0). */
export const UsageCounters = z.object(Object.fromEntries(USAGE_COUNTERS.map((name) => [name, count.default(0)])) as Record<UsageCounter, z.ZodDefault<typeof count>>).strict();
export type UsageCounters = Record<UsageCounter, number>;

/** Some counters: what one component adds. */
export type UsageDelta = Partial<UsageCounters>;

export function emptyUsage(): UsageCounters {
  return Object.fromEntries(USAGE_COUNTERS.map((name) => [name, 0])) as UsageCounters;
}

/** The sum of usages, counter by counter. */
export function addUsage(...usages: UsageDelta[]): UsageCounters {
  const sum = emptyUsage();
  for (const usage of usages) for (const name of USAGE_COUNTERS) sum[name] += usage[name] ?? 0;
  return sum;
}

/**
 * The delta as stores record it: only known counters, each a finite number
 * from 0, zeros left out. Anything else is a ValidationError, so a store
 * records all of a delta or none of it.
 */
export function checkedUsageDelta(delta: UsageDelta): UsageDelta {
  const problems: string[] = [];
  const checked: UsageDelta = {};
  for (const [name, value] of Object.entries(delta)) {
    if (!(USAGE_COUNTERS as readonly string[]).includes(name)) problems.push(`${name}: not a usage counter`);
    else if (value === undefined) continue;
    else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) problems.push(`${name}: ${String(value)} is not a count from 0`);
    else if (value > 0) checked[name as UsageCounter] = value;
  }
  if (problems.length > 0) throw new ValidationError('invalid job usage', problems);
  return checked;
}

/**
 * A job's usage as `cairn jobs show` presents it: what the workflow's
 * Lambdas recorded (`JobStore.usage`), what the agent reported with its
 * progress (`progress.usage`), and the execution's billed state transitions
 * when its history could be read.
 */
export interface JobUsage {
  lambdas: UsageCounters;
  agent: UsageCounters;
  stateTransitions: { count: number; events: number } | { unknown: string };
}
