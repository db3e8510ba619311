/**
 * AWS list prices (USD, on-demand, no free tier, first pricing tier) of what a
 * Cairn job uses, by region. A table in the code on purpose: a job's cost is
 * shown from it without a call to the Price List API, the same answer
 * tomorrow as today, and a change is a reviewed commit. `PRICES_AS_OF` says
 * when the figures were taken; prices change, so read it with the figures.
 *
 * How the figures were taken (2026-12-02): the Step Functions figures were
 * read from a stored copy of its pricing page (its per-region table). The
 * others are the pricing pages' figures as the author knew them, not re-read
 * that day (no live access); the DynamoDB figures of eu-west-1, eu-central-1
 * and ap-southeast-2 are half their list price before the 1 November 2024
 * on-demand price cut (-50% in every region), as that cut was announced.
 * Check them against the source URLs before relying on a total.
 */
export const PRICES_AS_OF = '2026-12-02';

export const PRICE_SOURCES = {
  stepFunctions: 'https://aws.amazon.com/step-functions/pricing/',
  lambda: 'https://aws.amazon.com/lambda/pricing/',
  dynamodb: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
  s3: 'https://aws.amazon.com/s3/pricing/',
} as const;

export interface RegionPrices {
  /** Standard workflows, per state transition. */
  stateTransition: number;
  /** Per request (invocation). */
  lambdaRequest: number;
  /** Per GB-second of duration, Arm (Graviton) and x86. */
  lambdaArmGbSecond: number;
  lambdaX86GbSecond: number;
  /** On-demand capacity, Standard table class, per write / read request unit. */
  dynamoWriteUnit: number;
  dynamoReadUnit: number;
  /** S3 Standard, per request: PUT, COPY, POST, LIST (tier 1); GET, SELECT and all other requests (tier 2). DELETE and abort are free. */
  s3Tier1Request: number;
  s3Tier2Request: number;
  /** S3 Standard storage per GB-month (first 50 TB). */
  s3StandardGbMonth: number;
  /** Data transfer out from S3 to the internet per GB (first 10 TB a month); transfer in is free. */
  s3TransferOutGb: number;
}

const perThousand = (usd: number): number => usd / 1000;
const perMillion = (usd: number): number => usd / 1_000_000;

/** What Lambda and Step Functions charge in the five regions below (the same figures in each). */
const LAMBDA_AND_SFN = {
  stateTransition: perThousand(0.025),
  lambdaRequest: perMillion(0.2),
  lambdaArmGbSecond: 0.0000133334,
  lambdaX86GbSecond: 0.0000166667,
};

export const PRICES: Readonly<Record<string, RegionPrices>> = {
  'us-east-1': {
    ...LAMBDA_AND_SFN,
    dynamoWriteUnit: perMillion(0.625),
    dynamoReadUnit: perMillion(0.125),
    s3Tier1Request: perThousand(0.005),
    s3Tier2Request: perThousand(0.0004),
    s3StandardGbMonth: 0.023,
    s3TransferOutGb: 0.09,
  },
  'us-west-2': {
    ...LAMBDA_AND_SFN,
    dynamoWriteUnit: perMillion(0.625),
    dynamoReadUnit: perMillion(0.125),
    s3Tier1Request: perThousand(0.005),
    s3Tier2Request: perThousand(0.0004),
    s3StandardGbMonth: 0.023,
    s3TransferOutGb: 0.09,
  },
  'eu-west-1': {
    ...LAMBDA_AND_SFN,
    dynamoWriteUnit: perMillion(0.70675),
    dynamoReadUnit: perMillion(0.1415),
    s3Tier1Request: perThousand(0.005),
    s3Tier2Request: perThousand(0.0004),
    s3StandardGbMonth: 0.023,
    s3TransferOutGb: 0.09,
  },
  'eu-central-1': {
    ...LAMBDA_AND_SFN,
    dynamoWriteUnit: perMillion(0.7625),
    dynamoReadUnit: perMillion(0.1525),
    s3Tier1Request: perThousand(0.0054),
    s3Tier2Request: perThousand(0.00043),
    s3StandardGbMonth: 0.0245,
    s3TransferOutGb: 0.09,
  },
  'ap-southeast-2': {
    ...LAMBDA_AND_SFN,
    dynamoWriteUnit: perMillion(0.71155),
    dynamoReadUnit: perMillion(0.1423),
    s3Tier1Request: perThousand(0.0055),
    s3Tier2Request: perThousand(0.00044),
    s3StandardGbMonth: 0.025,
    s3TransferOutGb: 0.114,
  },
};

/** The region's prices, or undefined for a region the table does not have (its counts are still shown, priced "unknown"). */
export function pricesFor(region: string, table: Readonly<Record<string, RegionPrices>> = PRICES): RegionPrices | undefined {
  return Object.hasOwn(table, region) ? table[region] : undefined;
}
