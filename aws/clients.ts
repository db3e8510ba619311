import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { recordCalls, type CallRecorder } from './call-recorder.ts';
import { meterCalls, type UsageMeter } from './usage-meter.ts';

/** Environment variable pointing every client at an AWS endpoint emulator (moto_server, LocalStack). */
export const AWS_ENDPOINT_ENV = 'CAIRN_AWS_ENDPOINT';

export interface AwsClientOptions {
  /** Defaults to AWS_REGION, then to the SDK's own resolution (profile, instance metadata). */
  region?: string;
  /** An emulator's URL; defaults to CAIRN_AWS_ENDPOINT. S3 then uses path-style addressing. */
  endpoint?: string;
  /** A named profile from the shared config files; the SDK's default chain when absent. */
  profile?: string;
  /** Explicit credentials, for emulators only; real deployments use the default chain. */
  credentials?: S3ClientConfig['credentials'];
  /**
   * Connections per client (SDK default 50). 1 sends one request at a time:
   * moto_server runs concurrent requests on threads without the per-item
   * serialisation DynamoDB gives, so conditional writes racing there could both win.
   */
  maxSockets?: number;
  /**
   * Receives every call the clients make, as IAM action and resource
   * (aws/call-recorder.ts). test/iam/ uses it to check the CDK grants against
   * what the code calls; production code leaves it unset.
   */
  recorder?: CallRecorder;
  /** Counts the billed requests of every client (aws/usage-meter.ts): what a job's Lambdas and agent report as its usage. */
  meter?: UsageMeter;
  /**
   * Called with each client when it is created; returns the client to use.
   * The Lambdas pass Powertools' `tracer.captureAWSv3Client`, so every call
   * becomes an X-Ray subsegment; everything else leaves it unset.
   */
  instrument?: <T extends object>(client: T) => T;
}

/** The SDK clients of one process. Each is created on first use and then reused. */
export interface AwsClients {
  readonly options: Readonly<AwsClientOptions>;
  readonly dynamodb: DynamoDBClient;
  /** Document client over `dynamodb`; what the Dynamo stores take. */
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly ssm: SSMClient;
  /** EventBridge: where the Lambdas publish job state changes (aws/eventbridge-job-events.ts). */
  readonly events: EventBridgeClient;
  /** SNS: where the report function publishes completion reports (aws/sns-report-publisher.ts). */
  readonly sns: SNSClient;
  /** Closes the sockets of every client created so far. */
  destroy(): void;
}

/** Options as given, completed from AWS_REGION and CAIRN_AWS_ENDPOINT where not given. */
export function resolveAwsClientOptions(options: AwsClientOptions = {}, env: NodeJS.ProcessEnv = process.env): Readonly<AwsClientOptions> {
  const region = options.region ?? nonEmpty(env.AWS_REGION);
  const endpoint = options.endpoint ?? nonEmpty(env[AWS_ENDPOINT_ENV]);
  return Object.freeze({
    ...(region === undefined ? {} : { region }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.maxSockets === undefined ? {} : { maxSockets: options.maxSockets }),
  });
}

/**
 * Creates the clients once per process (call it at module scope in a Lambda,
 * so warm invocations reuse connections). Nothing is created until first used.
 */
export function createAwsClients(options: AwsClientOptions = {}, env: NodeJS.ProcessEnv = process.env): AwsClients {
  const resolved = resolveAwsClientOptions(options, env);
  const common = {
    ...(resolved.region === undefined ? {} : { region: resolved.region }),
    ...(resolved.endpoint === undefined ? {} : { endpoint: resolved.endpoint }),
    ...(resolved.profile === undefined ? {} : { profile: resolved.profile }),
    ...(resolved.credentials === undefined ? {} : { credentials: resolved.credentials }),
    ...(resolved.maxSockets === undefined
      ? {}
      : { requestHandler: { httpAgent: { keepAlive: true, maxSockets: resolved.maxSockets }, httpsAgent: { keepAlive: true, maxSockets: resolved.maxSockets } } }),
  };
  const created: { destroy(): void }[] = [];
  const once = <T extends { destroy(): void }>(make: () => T): (() => T) => {
    let client: T | undefined;
    return () => {
      if (client === undefined) {
        client = make();
        created.push(client);
      }
      return client;
    };
  };
  const recorded = <T extends Parameters<typeof recordCalls>[0] & { destroy(): void }>(client: T): T => {
    if (options.recorder !== undefined) recordCalls(client, options.recorder);
    if (options.meter !== undefined) meterCalls(client, options.meter);
    return options.instrument === undefined ? client : options.instrument(client);
  };
  const dynamodb = once(() => recorded(new DynamoDBClient(common)));
  // Shares the middleware stack of `dynamodb`, recorder included.
  const documents = once(() => createDocumentClient(dynamodb()));
  // Emulators serve buckets by path (http://host:port/bucket), not by virtual host.
  const s3 = once(() => recorded(new S3Client({ ...common, ...(resolved.endpoint === undefined ? {} : { forcePathStyle: true }) })));
  const sfn = once(() => recorded(new SFNClient(common)));
  const ssm = once(() => recorded(new SSMClient(common)));
  const sns = once(() => recorded(new SNSClient(common)));
  // Publishing a job event must never hold a Task state up for long (aws/eventbridge-job-events.ts):
  // a stalled request fails after 2 s (throwOnRequestTimeout: the handler only warns otherwise), so the
  // SDK's 3 attempts end in about 6 s, well inside a Lambda's timeout.
  const events = once(() => recorded(new EventBridgeClient({ ...common, requestHandler: { ...common.requestHandler, connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true } })));
  return {
    options: resolved,
    get dynamodb() {
      return dynamodb();
    },
    get documents() {
      return documents();
    },
    get s3() {
      return s3();
    },
    get sfn() {
      return sfn();
    },
    get ssm() {
      return ssm();
    },
    get events() {
      return events();
    },
    get sns() {
      return sns();
    },
    destroy() {
      for (const client of created.splice(0)) client.destroy();
    },
  };
}

/**
 * The document client the stores expect. The stores keep their models as JSON
 * strings, so they do not depend on these options; they only make stray
 * `undefined` attributes harmless.
 */
export function createDocumentClient(dynamodb: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
