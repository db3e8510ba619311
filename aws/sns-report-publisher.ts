import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { CairnError, messageOf } from '#core/errors.ts';
import type { ReportPublisher } from '#core/ports/report-publisher.ts';
import type { JobReport } from '#core/report/job-report.ts';
import { renderReportText, reportSummary } from '#core/report/render-text.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { CallRecorder } from './call-recorder.ts';

/**
 * HAND-WRITTEN ON PURPOSE: `@aws-sdk/client-sns` is not a dependency of Cairn
 * (no npm install in this change), so SNS's Query API is called here with the
 * SDK's own SigV4 signer (`@smithy/signature-v4`, which every SDK client uses)
 * and Node's fetch. It makes three calls, each one form-encoded POST with an
 * XML answer. When `@aws-sdk/client-sns` is added, `snsQuery` becomes
 * `client.send(new PublishCommand(...))` and nothing else changes.
 */

/** SNS's largest message (body and attributes): 256 KiB. */
export const SNS_MESSAGE_LIMIT = 262_144;
/** The message attribute every report carries, so a subscription's filter policy can take reports only (alarms have none). */
export const REPORT_MESSAGE_ATTRIBUTE = { name: 'cairn-message', value: 'report' } as const;

/** sha256 for the signer, on node:crypto (`@smithy/hash-node` is not installed at the top level). */
class NodeSha256 implements Checksum {
  readonly #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: SourceData): void {
    this.#hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    throw new Error('not used by the signer');
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export interface SnsQueryOptions {
  /** The SDK's credential provider (any client's `config.credentials`), or fixed credentials. */
  credentials: AwsCredentialIdentityProvider | AwsCredentialIdentity;
  region: string;
  /** An emulator's URL; default `https://sns.<region>.<partition's domain>`. */
  endpoint?: string;
  /** Records each call as IAM sees it (test/iam), as the SDK clients' recorder does. */
  recorder?: CallRecorder;
}

/** The endpoint of SNS in a region: `amazonaws.com`, or `amazonaws.com.cn` in the China regions. */
export function snsEndpoint(region: string): string {
  return `https://sns.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/**
 * One SNS Query API call (`Action`, its parameters, `Version=2010-03-31`),
 * SigV4-signed; the XML answer's text, or a CairnError (2000) with SNS's code
 * and message. `resource` is what IAM authorizes it on (the topic).
 */
export async function snsQuery(options: SnsQueryOptions, action: string, params: Record<string, string>, resource: string): Promise<string> {
  const url = new URL(options.endpoint ?? snsEndpoint(options.region));
  const body = new URLSearchParams({ Action: action, Version: '2010-03-31', ...params }).toString();
  const signer = new SignatureV4({ service: 'sns', region: options.region, credentials: options.credentials, sha256: NodeSha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
  });
  options.recorder?.record({ action: `sns:${action}`, operation: action, resource: { kind: 'arn', arn: resource } });
  let answer: Response;
  try {
    answer = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new CairnError(StatusCode.INTERNAL_ERROR, `SNS ${action} on ${resource} failed: ${messageOf(error)}`, { cause: error });
  }
  const text = await answer.text();
  if (!answer.ok) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP ${answer.status}`;
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
    throw new CairnError(StatusCode.INTERNAL_ERROR, `SNS ${action} on ${resource} refused: ${code}${message ? `: ${message}` : ''}`);
  }
  return text;
}

/** The region of an ARN (`arn:<partition>:sns:<region>:...`). */
function regionOf(arn: string): string {
  const region = arn.split(':')[3];
  if (!region) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${arn} is not an SNS topic ARN`);
  return region;
}

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
 */
export class SnsReportPublisher implements ReportPublisher {
  readonly #options: SnsQueryOptions;
  readonly #topicArn: string;

  constructor(topicArn: string, options: Omit<SnsQueryOptions, 'region'> & { region?: string }) {
    this.#topicArn = topicArn;
    // The topic's own region: the one its ARN names, wherever the function runs.
    this.#options = { ...options, region: options.region ?? regionOf(topicArn) };
  }

  async publish(report: JobReport): Promise<void> {
    const n = REPORT_MESSAGE_ATTRIBUTE;
    await snsQuery(
      this.#options,
      'Publish',
      {
        TopicArn: this.#topicArn,
        Subject: reportSummary(report).slice(0, 100),
        MessageStructure: 'json',
        Message: reportMessage(report),
        'MessageAttributes.entry.1.Name': n.name,
        'MessageAttributes.entry.1.Value.DataType': 'String',
        'MessageAttributes.entry.1.Value.StringValue': n.value,
      },
      this.#topicArn,
    );
  }
}
