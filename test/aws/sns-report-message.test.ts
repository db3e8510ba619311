import { describe, expect, it } from 'vitest';
import { BackupJob } from '#core/model/job.ts';
import { buildReport } from '#core/report/build-report.ts';
import { JobReport } from '#core/report/job-report.ts';
import { reportMessage, SNS_MESSAGE_LIMIT } from '#aws/sns-report-publisher.ts';
import { NIGHT_END, nightJobs } from '../core/report/night.ts';

const period = { from: new Date('2026-12-02T06:00:00Z'), to: NIGHT_END };

describe('the SNS message of a report', () => {
  it('carries the table by default and for e-mail, and the JSON report for machine subscribers', () => {
    const report = buildReport(nightJobs(), period, NIGHT_END);
    const message = JSON.parse(reportMessage(report)) as Record<string, string>;
    expect(Object.keys(message).sort()).toEqual(['default', 'email', 'http', 'https', 'lambda', 'sqs']);
    expect(message.default).toMatch(/^Cairn report: 3 failed, 1 partial, 4 succeeded, 1 running/);
    expect(message.email).toBe(message.default);
    expect(JobReport.parse(JSON.parse(message.sqs!))).toEqual(report);
  });

  it('fits in one SNS message however many jobs failed: the table cut at a line, saying how to get all of it', () => {
    const jobs = Array.from({ length: 5000 }, (_, i) =>
      BackupJob.parse({ jobId: i + 1, type: 'backup', policy: 'nightly', client: `client-${i}`, schedule: 'daily', level: 'full', storageUnit: 'disk', selections: ['/srv'], retentionDays: 7, state: 'DONE', statusCode: 13, error: `/srv/data-${i}: input/output error while reading a rather long path name`, queuedAt: '2026-12-02T22:00:00Z', startedAt: '2026-12-02T22:00:00Z', endedAt: '2026-12-02T23:00:00Z', updatedAt: '2026-12-02T23:00:00Z' }),
    );
    const report = buildReport(jobs, period, NIGHT_END);
    const text = reportMessage(report);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(SNS_MESSAGE_LIMIT);
    const message = JSON.parse(text) as Record<string, string>;
    // Too large for the JSON report: the table alone, cut.
    expect(Object.keys(message)).toEqual(['default']);
    expect(message.default).toMatch(/^Cairn report: 5000 failed, 0 partial, 0 succeeded/);
    expect(message.default).toMatch(/\.\.\. cut to fit one message: run `cairn --aws report --since 2026-12-02T06:00:00.000Z` for all of it\.\n$/);
  });
});
