import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CairnError } from '#core/errors.ts';
import { assertJobId } from '#core/ids.ts';
import { StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import { errorName } from './aws-errors.ts';

/** What every Dynamo adapter is built from. */
export interface DynamoStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
}

/**
 * Job ids are stored as 12-digit, zero-padded sort keys so that the string
 * order DynamoDB sorts by is the numeric order ("newest first" is one Query).
 */
export function jobSortKey(jobId: number): string {
  assertJobId(jobId);
  return String(jobId).padStart(12, '0');
}

export function isJobId(jobId: number): boolean {
  return Number.isSafeInteger(jobId) && jobId >= 1 && jobId < 1e12;
}

export function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

export interface CancellationReason {
  Code?: string;
  Message?: string;
  Item?: Record<string, { S?: string; N?: string }>;
}

/**
 * The per-operation reasons of a cancelled transaction, in the order of the
 * TransactItems; undefined when `error` is not a TransactionCanceledException.
 */
export function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  if (errorName(error) !== 'TransactionCanceledException') return undefined;
  const reasons = (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons;
  return Array.isArray(reasons) ? reasons : [];
}

/**
 * A transaction that lost against another transaction on the same item (or a
 * throttled one) is worth running again: it says nothing about the data.
 */
export function isRetryableCancellation(reasons: readonly CancellationReason[]): boolean {
  return reasons.some((r) => r.Code === 'TransactionConflict' || r.Code === 'ThrottlingError' || r.Code === 'ProvisionedThroughputExceeded');
}

/** Jittered exponential backoff for optimistic-concurrency retries: 5 ms, 10 ms, ... capped at 250 ms. */
export async function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(250, 5 * 2 ** Math.min(attempt, 6));
  await sleep(Math.floor(ceiling / 2 + Math.random() * (ceiling / 2)));
}

/** How many times a lost optimistic race is retried before giving up with a ConflictError. */
export const MAX_OPTIMISTIC_ATTEMPTS = 50;

/** An unexpected DynamoDB failure, as a CairnError that keeps the SDK error as its cause. */
export function dynamoFailure(operation: string, tableName: string, error: unknown, statusCode: StatusCodeValue = StatusCode.INTERNAL_ERROR): CairnError {
  if (error instanceof CairnError) return error;
  const name = errorName(error) ?? 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return new CairnError(statusCode, `DynamoDB ${operation} on table ${tableName} failed: ${name}: ${message}`, { cause: error });
}

/** Reads a numeric attribute whatever the document client's number translation (number, NumberValue, string). */
export function numberAttribute(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = Number(typeof value === 'object' ? String(value) : value);
  return Number.isFinite(n) ? n : undefined;
}

/** Parses the JSON document attribute every item keeps its model in. */
export function parseDocument<T>(item: Record<string, unknown> | undefined, tableName: string): T | undefined {
  if (item === undefined) return undefined;
  const json = item.json;
  if (typeof json !== 'string') {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `item ${String(item.pk)}/${String(item.sk)} in table ${tableName} has no json attribute`);
  }
  try {
    return JSON.parse(json) as T;
  } catch (error) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `item ${String(item.pk)}/${String(item.sk)} in table ${tableName} holds invalid JSON`, { cause: error });
  }
}
