import { describe, expect, it } from 'vitest';
import { formatUsd, jobCost, NOT_MEASURED } from '#core/cost/job-cost.ts';
import { PRICES, PRICES_AS_OF, PRICE_SOURCES, pricesFor } from '#core/cost/prices.ts';
import { addUsage, checkedUsageDelta, emptyUsage, type JobUsage } from '#core/model/job-usage.ts';
import { ValidationError } from '#core/errors.ts';

/** A backup of 1 GiB: six Lambda invocations of a 512 MB Arm function, 40 DynamoDB writes, 130 S3 PUT-class requests. */
function sampleUsage(overrides: Partial<JobUsage> = {}): JobUsage {
  return {
    lambdas: addUsage({ lambdaInvocations: 6, lambdaColdStarts: 2, lambdaBilledMs: 600, lambdaArmMbMs: 600 * 512, dynamoWriteRequests: 12, dynamoWriteUnits: 14, dynamoReadRequests: 10, dynamoReadUnits: 10 }),
    agent: addUsage({ dynamoWriteRequests: 28, dynamoWriteUnits: 27, dynamoWritesUnmeasured: 1, s3Tier1Requests: 130, s3Tier2Requests: 4, s3FreeRequests: 2, s3BytesUp: 1024 ** 3, s3BytesDown: 1024 ** 2 }),
    stateTransitions: { count: 11, events: 40 },
    ...overrides,
  };
}

describe('the price of a job', () => {
  it('prices every measured quantity at the region\'s list prices, and sums them', () => {
    const cost = jobCost(sampleUsage(), 'us-east-1');
    const usd = (what: RegExp): number | undefined => cost.lines.find((l) => what.test(l.what))?.usd;
    expect(usd(/^state transitions/)).toBeCloseTo(11 * 0.000025, 12);
    expect(usd(/^invocations/)).toBeCloseTo(6 * 0.0000002, 12);
    // 600 ms at 512 MB = 0.3 GB-s at the Arm price.
    expect(cost.lines.find((l) => l.what.startsWith('duration, Arm'))).toMatchObject({ quantity: 0.3, unit: 'GB-s' });
    expect(usd(/^duration, Arm/)).toBeCloseTo(0.3 * 0.0000133334, 12);
    expect(cost.lines.find((l) => l.what.startsWith('write request units'))).toMatchObject({ quantity: 41, what: 'write request units (40 writes)' });
    expect(usd(/^write request units/)).toBeCloseTo(41 * 0.000000625, 12);
    expect(usd(/^PUT, COPY/)).toBeCloseTo(130 * 0.000005, 12);
    expect(usd(/^GET, HEAD/)).toBeCloseTo(4 * 0.0000004, 12);
    expect(usd(/^DELETE/)).toBe(0);
    expect(usd(/^bytes sent/)).toBe(0);
    expect(usd(/^bytes read/)).toBeCloseTo(0.09 / 1024, 12);
    const sum = cost.lines.reduce((s, l) => s + (l.usd ?? 0), 0);
    expect(cost.totalUsd).toBeCloseTo(sum, 15);
    expect(cost.storagePerMonthUsd).toBeCloseTo(0.023, 12);
    expect(cost.pricesAsOf).toBe(PRICES_AS_OF);
  });

  it('prices writes whose units DynamoDB did not return at its minimum of one unit, and says the total is a lower bound', () => {
    const cost = jobCost(sampleUsage(), 'us-east-1');
    expect(cost.lines.find((l) => l.what.startsWith('writes whose units'))).toMatchObject({ quantity: 1, atLeast: true });
    expect(cost.totalAtLeast).toBe(true);
    const measuredOnly = jobCost(sampleUsage({ agent: emptyUsage() }), 'us-east-1');
    expect(measuredOnly.lines.some((l) => l.what.startsWith('writes whose units'))).toBe(false);
    expect(measuredOnly.totalAtLeast).toBe(false);
  });

  it('keeps the counts and says why when the state transitions are not known', () => {
    const cost = jobCost(sampleUsage({ stateTransitions: { unknown: 'the job has no execution' } }), 'eu-west-1');
    expect(cost.lines[0]).toMatchObject({ service: 'Step Functions', unknown: 'the job has no execution' });
    expect(cost.lines[0]!.usd).toBeUndefined();
    expect(cost.totalAtLeast).toBe(true);
    expect(cost.totalUsd).toBeGreaterThan(0);
  });

  it('shows the counts of a region the table lacks, priced "unknown for REGION"', () => {
    const cost = jobCost(sampleUsage(), 'me-central-1');
    expect(cost.priceNote).toBe('unknown for me-central-1');
    expect(cost.totalUsd).toBeUndefined();
    expect(cost.storagePerMonthUsd).toBeUndefined();
    expect(cost.lines.every((l) => l.usd === undefined)).toBe(true);
    expect(cost.lines.find((l) => l.what === 'invocations')?.quantity).toBe(6);
    // A property of Object.prototype is not a region.
    expect(pricesFor('constructor')).toBeUndefined();
  });

  it('has prices for the regions Cairn is documented for, each a positive number, with the source of each service', () => {
    for (const region of ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-2']) {
      const prices = pricesFor(region);
      expect(prices, region).toBeDefined();
      for (const [name, value] of Object.entries(prices!)) expect(value, `${region} ${name}`).toBeGreaterThan(0);
    }
    expect(Object.keys(PRICES)).toHaveLength(5);
    for (const url of Object.values(PRICE_SOURCES)) expect(url).toMatch(/^https:\/\/aws\.amazon\.com\/.+\/pricing\//);
    // Frankfurt's S3 requests cost more than Virginia's: the table is per region, not one figure copied.
    expect(pricesFor('eu-central-1')!.s3Tier1Request).toBeGreaterThan(pricesFor('us-east-1')!.s3Tier1Request);
  });

  it('names what it does not measure', () => {
    const cost = jobCost(sampleUsage(), 'us-east-1');
    expect(cost.notMeasured).toEqual([...NOT_MEASURED]);
    expect(cost.notMeasured.join('\n')).toMatch(/KMS/);
    expect(cost.notMeasured.join('\n')).toMatch(/CloudWatch Logs/);
  });

  it('writes USD to the cent, and fractions of a cent to four significant digits', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(1.234)).toBe('$1.23');
    expect(formatUsd(0.000275)).toBe('$0.000275');
    expect(formatUsd(0.00012345678)).toBe('$0.0001235');
    expect(formatUsd(1.3e-7)).toBe('$0.00000013');
  });
});

describe('usage counters', () => {
  it('add up counter by counter, absent counters counting 0', () => {
    expect(addUsage({ s3BytesUp: 5 }, { s3BytesUp: 7, lambdaInvocations: 1 })).toMatchObject({ s3BytesUp: 12, lambdaInvocations: 1, dynamoWriteUnits: 0 });
  });

  it('refuse a negative, a non-finite or an unknown counter, naming each', () => {
    expect(checkedUsageDelta({ s3BytesUp: 0, lambdaInvocations: 2 })).toEqual({ lambdaInvocations: 2 });
    try {
      checkedUsageDelta({ s3BytesUp: -1, lambdaInvocations: Number.NaN, bogus: 1 } as never);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).details).toEqual(['s3BytesUp: -1 is not a count from 0', 'lambdaInvocations: NaN is not a count from 0', 'bogus: not a usage counter']);
    }
  });
});
