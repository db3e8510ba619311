import type { JobReport } from '../report/job-report.ts';

/**
 * Where a completion report goes: the reports SNS topic in the cloud
 * (aws/sns-report-publisher.ts), a webhook standalone (local/report-webhook.ts).
 *
 * Contract: `publish` resolves once the report was accepted (SNS gave a
 * message id, the webhook answered 2xx), after whatever retrying the adapter
 * does itself, and rejects with a CairnError keeping the cause otherwise.
 * A report is about jobs that have ended: a report that could not be
 * published is told to the operator and never changes a job.
 */
export interface ReportPublisher {
  publish(report: JobReport): Promise<void>;
}
