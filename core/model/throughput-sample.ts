import { z } from 'zod';

/**
 * One point of a job's throughput over time: [seconds since the epoch (to
 * the millisecond), image bytes written so far]. Cumulative bytes, so a rate over
 * any two points is their difference over their distance, whatever was
 * thinned out between them (core/jobs/throughput-series.ts).
 */
export const ThroughputSample = z.tuple([z.number().min(0), z.number().int().min(0)]);
export type ThroughputSample = z.output<typeof ThroughputSample>;
/**
 * The most points a job keeps. Bounded because the record is one DynamoDB
 * item (400 KB, and the progress map is stored twice there): 120 pairs of
 * numbers are under 6 KB in either copy, whatever the job's length.
 */
export const MAX_THROUGHPUT_SAMPLES = 120;
