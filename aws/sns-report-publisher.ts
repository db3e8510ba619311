import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CairnError, messageOf } from '#core/errors.ts';
import type { ReportPublisher } from '#core/ports/report-publisher.ts';
import type { JobReport } from '#core/report/job-report.ts';
import { renderReportText, reportSummary } from '#core/report/render-text.ts';
import { StatusCode } from '#core/status-codes.ts';

/** SNS's largest message (body and attributes): 256 KiB. */
export const SNS_MESSAGE_LIMIT = 262_144;
/** The message attribute every report carries, so a subscription's filter policy can take reports only (alarms have none). */
export const REPORT_MESSAGE_ATTRIBUTE = { name: 'cairn-message', value: 'report' } as const;

/**
 * The message of a report, per protocol (`MessageStructure: json`): the text
 * table for e-mail and every protocol by default; the JSON report itself for
 * machine subscribers (http, https, sqs, lambda) when all of it fits in one
 * message. A text too long is cut at a line, saying so.
 */
export function reportMessage(report: JobReport): string {
  const budget = SNS_MESSAGE_LIMIT - 4096;
  let text = renderReportText(report);
  if (Buffer.byteLength(text) > budget / 2) {
    const lines = text.split('\n');
    let kept = '';
    for (const line of lines) {
      if (Buffer.byteLength(kept) + Buffer.byteLength(line) + 200 > budget / 2) break;
      kept += `${line}\n`;
    }
    text = `${kept}... cut to fit one message: run \`cairn --aws report --since ${report.period.from}\` for all of it.\n`;
  }
  const json = JSON.stringify(report);
  const withJson = JSON.stringify({ default: text, email: text, http: json, https: json, sqs: json, lambda: json });
  return Buffer.byteLength(withJson) <= budget ? withJson : JSON.stringify({ default: text });
}

/**
 * The reports topic (ReportPublisher): one Publish per report, the summary
 * as Subject (e-mail), the message per protocol (`reportMessage`), and the
 * attribute `cairn-message=report`. Needs `sns:Publish` on the topic and, the
 * topic being encrypted, `kms:GenerateDataKey*` and `kms:Decrypt` on its key.
 * The client is the process's (aws/clients.ts), so the IAM recorder and the
 * X-Ray instrumentation see the call as they see every other.
 */
export class SnsReportPublisher implements ReportPublisher {
  readonly #sns: SNSClient;
  readonly #topicArn: string;

  constructor(topicArn: string, sns: SNSClient) {
    this.#topicArn = topicArn;
    this.#sns = sns;
  }

  async publish(report: JobReport): Promise<void> {
    const attribute = REPORT_MESSAGE_ATTRIBUTE;
    try {
      await this.#sns.send(
        new PublishCommand({
          TopicArn: this.#topicArn,
          Subject: reportSummary(report).slice(0, 100),
          MessageStructure: 'json',
          Message: reportMessage(report),
          MessageAttributes: { [attribute.name]: { DataType: 'String', StringValue: attribute.value } },
        }),
      );
    } catch (error) {
      throw new CairnError(StatusCode.INTERNAL_ERROR, `SNS Publish to ${this.#topicArn} failed: ${messageOf(error)}`, { cause: error });
    }
  }
}
