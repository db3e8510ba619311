import { addUsage, type JobUsage } from '../model/job-usage.ts';
import { PRICE_SOURCES, PRICES, PRICES_AS_OF, pricesFor, type RegionPrices } from './prices.ts';

/** One measured quantity and its price. */
export interface CostLine {
  service: 'Step Functions' | 'Lambda' | 'DynamoDB' | 'S3';
  what: string;
  quantity: number;
  unit: string;
  /** USD at list price; undefined when the region's prices are unknown, or the quantity is. */
  usd?: number;
  /** The figure is a lower bound (units DynamoDB did not return are priced at its minimum, one each). */
  atLeast?: true;
  /** Why there is no quantity (state transitions whose history could not be read). */
  unknown?: string;
}

export interface JobCost {
  region: string;
  /** The date the price table was taken (core/cost/prices.ts). */
  pricesAsOf: string;
  /** "unknown for REGION" when the table has no prices for the region. */
  priceNote?: string;
  lines: CostLine[];
  /** The sum of the priced lines; undefined when the region's prices are unknown. */
  totalUsd?: number;
  /** The total leaves something out (an unknown quantity) or prices a lower bound. */
  totalAtLeast: boolean;
  /** What the bytes written cost each month they are kept in S3 Standard (not part of the total). */
  storagePerMonthUsd?: number;
  /** What the job also costs that nothing here counts. */
  notMeasured: string[];
  sources: typeof PRICE_SOURCES;
}

const GB = 1024 ** 3;

/**
 * Costs that a job causes and that Cairn does not count; shown by name
 * rather than guessed.
 */
export const NOT_MEASURED = [
  'KMS requests (SSE-KMS on the image bucket: S3 asks KMS on uploads and reads)',
  'CloudWatch Logs ingestion and storage of the functions\' logs',
  'the init phase of Lambda cold starts (billed; the count of cold starts is shown)',
  'SSM: the hybrid-activated agent host\'s instance tier and the Run Command that starts the agent',
  'the scheduler tick, the janitor and EventBridge, which serve all jobs together',
  'S3 storage over time and DynamoDB storage (the monthly figure for the bytes written is shown apart)',
  'the agent\'s S3 and DynamoDB requests after its last progress report',
] as const;

/**
 * The job's usage priced at the list prices of `region` (pure: the same
 * usage and table give the same answer whenever it is asked). A region the
 * table lacks still gets every count, each priced `undefined`, and
 * `priceNote` "unknown for REGION".
 */
export function jobCost(usage: JobUsage, region: string, table: Readonly<Record<string, RegionPrices>> = PRICES): JobCost {
  const prices = pricesFor(region, table);
  const total = addUsage(usage.lambdas, usage.agent);
  const price = (quantity: number, unitPrice: (p: RegionPrices) => number): number | undefined => (prices === undefined ? undefined : quantity * unitPrice(prices));
  const lines: CostLine[] = [];
  const line = (service: CostLine['service'], what: string, quantity: number, unit: string, unitPrice: (p: RegionPrices) => number, atLeast = false): void => {
    const usd = price(quantity, unitPrice);
    lines.push({ service, what, quantity, unit, ...(usd === undefined ? {} : { usd }), ...(atLeast ? { atLeast: true as const } : {}) });
  };

  if ('count' in usage.stateTransitions) line('Step Functions', 'state transitions (Standard, retries included)', usage.stateTransitions.count, 'transitions', (p) => p.stateTransition);
  else lines.push({ service: 'Step Functions', what: 'state transitions (Standard, retries included)', quantity: 0, unit: 'transitions', unknown: usage.stateTransitions.unknown });

  line('Lambda', 'invocations', total.lambdaInvocations, 'requests', (p) => p.lambdaRequest);
  const armGbSeconds = total.lambdaArmMbMs / 1024 / 1000;
  const x86GbSeconds = total.lambdaX86MbMs / 1024 / 1000;
  if (armGbSeconds > 0 || x86GbSeconds === 0) line('Lambda', `duration, Arm (${total.lambdaBilledMs} ms measured in the handlers)`, armGbSeconds, 'GB-s', (p) => p.lambdaArmGbSecond);
  if (x86GbSeconds > 0) line('Lambda', 'duration, x86', x86GbSeconds, 'GB-s', (p) => p.lambdaX86GbSecond);

  line('DynamoDB', `write request units (${total.dynamoWriteRequests} writes)`, total.dynamoWriteUnits, 'WRU', (p) => p.dynamoWriteUnit);
  if (total.dynamoWritesUnmeasured > 0) {
    line('DynamoDB', 'writes whose units were not returned, at one unit each', total.dynamoWritesUnmeasured, 'WRU', (p) => p.dynamoWriteUnit, true);
  }
  line('DynamoDB', `read request units (${total.dynamoReadRequests} reads)`, total.dynamoReadUnits, 'RRU', (p) => p.dynamoReadUnit);

  line('S3', 'PUT, COPY, POST, LIST requests', total.s3Tier1Requests, 'requests', (p) => p.s3Tier1Request);
  line('S3', 'GET, HEAD and other requests', total.s3Tier2Requests, 'requests', (p) => p.s3Tier2Request);
  line('S3', 'DELETE and abort requests (free)', total.s3FreeRequests, 'requests', () => 0);
  line('S3', 'bytes sent to S3 (transfer in is free)', total.s3BytesUp, 'bytes', () => 0);
  line('S3', 'bytes read from S3 (transfer out to the internet)', total.s3BytesDown, 'bytes', (p) => p.s3TransferOutGb / GB);

  const priced = lines.filter((l) => l.usd !== undefined);
  const totalUsd = prices === undefined ? undefined : priced.reduce((sum, l) => sum + (l.usd ?? 0), 0);
  const storagePerMonthUsd = price(total.s3BytesUp / GB, (p) => p.s3StandardGbMonth);
  return {
    region,
    pricesAsOf: PRICES_AS_OF,
    ...(prices === undefined ? { priceNote: `unknown for ${region}` } : {}),
    lines,
    ...(totalUsd === undefined ? {} : { totalUsd }),
    totalAtLeast: lines.some((l) => l.atLeast === true || l.unknown !== undefined),
    ...(storagePerMonthUsd === undefined ? {} : { storagePerMonthUsd }),
    notMeasured: [...NOT_MEASURED],
    sources: PRICE_SOURCES,
  };
}

/** USD for people: cents and above to the cent, less to four significant digits (a job's requests cost fractions of a cent). */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd >= 0.01) return `$${usd.toFixed(2)}`;
  const decimals = Math.min(20, 3 - Math.floor(Math.log10(usd)));
  return `$${usd.toFixed(decimals).replace(/0+$/, '').replace(/\.$/, '')}`;
}
