import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { IMAGE_BUCKET_ENV, tableEnvVar } from '#aws/tables.ts';
import { metricsServiceName, settingsOf } from '../stack-settings.ts';
import type { CairnTables } from './cairn-tables.ts';

/**
 * Where a Lambda's source lives. `projectRoot` is the directory holding
 * package.json (its `imports` map resolves `#core/...`) and package-lock.json;
 * `entry` is relative to it and exports `handler`.
 */
export interface CairnFunctionSource {
  readonly projectRoot: string;
  readonly entry: string;
}

/** What every Cairn function shares; the per-function constructs add their own grants. */
export interface CairnFunctionProps {
  readonly source: CairnFunctionSource;
  readonly description: string;
  readonly tables: CairnTables;
  readonly imageBucketName: string;
  /** Lambda timeout; keep it below the TimeoutSeconds of the Task states that call the function. */
  readonly timeout?: Duration;
}

/**
 * The ESM output keeps `import.meta.url` working; the banner gives bundled CommonJS
 * dependencies (which call `require`) a real `require`, since ESM has none.
 */
export const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The environment every handler parses at cold start (lambdas/environment.ts):
 * all four table names and the image bucket. A name is not a permission: each
 * function construct grants only the tables it uses, so a handler that touches
 * another table is refused by IAM, not by a missing variable.
 */
export function cairnEnvironment(tables: CairnTables, imageBucketName: string, serviceName: string): Record<string, string> {
  const environment: Record<string, string> = {
    // Per stack (metricsServiceName): the dimension of Cairn's metrics and the `service` of its logs.
    POWERTOOLS_SERVICE_NAME: serviceName,
    // Stack traces point into the TypeScript sources through the bundled source map.
    NODE_OPTIONS: '--enable-source-maps',
    [IMAGE_BUCKET_ENV]: imageBucketName,
  };
  for (const [name, table] of Object.entries(tables) as [keyof CairnTables, CairnTables[keyof CairnTables]][]) {
    environment[tableEnvVar[name]] = table.tableName;
  }
  return environment;
}

/**
 * A Node.js 24 arm64 function bundled by the local esbuild (never Docker, so
 * synth works offline) into one minified ESM file with a source map. The AWS
 * SDK is bundled too: the function runs the SDK versions the tests ran against,
 * not whatever the runtime ships that month. esbuild resolves package.json
 * subpath imports (`#core/*.ts`) itself, with the .ts extensions as written.
 *
 * Memory and log retention come from the stack's settings (stack-settings.ts).
 * The role is the function's own, with no managed policy: instead of
 * AWSLambdaBasicExecutionRole (logs:CreateLogGroup, CreateLogStream and
 * PutLogEvents on every log group of the account) it may write to its own log
 * group only, which the stack creates, so it needs no CreateLogGroup.
 */
/** The runtime of every Cairn Lambda. */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_22_X;

export function newCairnFunction(scope: Construct, id: string, props: CairnFunctionProps): NodejsFunction {
  const settings = settingsOf(scope);
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: settings.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = new iam.Role(scope, `${id}ServiceRole`, {
    description: props.description,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  logGroup.grantWrite(role);
  // cdk-nag IAM5 finding `Resource::*`: X-Ray's PutTraceSegments and
  // PutTelemetryRecords (tracing: ACTIVE) support no resource-level
  // permissions, so IAM only honours Resource "*" for them. They write trace
  // data and read nothing. test/cdk (IAM policies) keeps every data-service
  // action off "*", so this acknowledgment cannot hide a data grant.
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) take no resource-level permissions; no data-service action is granted on "*" (test/cdk checks it)',
  });
  const fn = new NodejsFunction(scope, id, {
    description: props.description,
    entry: path.join(props.source.projectRoot, props.source.entry),
    handler: 'handler',
    projectRoot: props.source.projectRoot,
    depsLockFilePath: path.join(props.source.projectRoot, 'package-lock.json'),
    role,
    // Cairn's Lambda runtime is Node.js 22 (what the handlers are built and polyfilled for).
    runtime: LAMBDA_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    memorySize: settings.lambdaMemoryMiB,
    timeout: props.timeout ?? Duration.seconds(30),
    tracing: lambda.Tracing.ACTIVE,
    loggingFormat: lambda.LoggingFormat.JSON,
    logGroup,
    environment: cairnEnvironment(props.tables, props.imageBucketName, metricsServiceName(scope)),
    bundling: {
      forceDockerBundling: false,
      format: OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      banner: ESM_REQUIRE_BANNER,
      minify: true,
      sourceMap: true,
      sourceMapMode: SourceMapMode.DEFAULT,
      sourcesContent: false,
      bundleAwsSDK: true,
      externalModules: [],
      // esbuild's warnings (an unresolvable import, say) still show; its size summary does not.
      logLevel: LogLevel.WARNING,
    },
  });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'Cairn pins its Lambdas to nodejs22.x, the runtime its handlers are built, polyfilled and tested for; moving to a newer runtime is a deliberate upgrade, not a lint fix',
  });
  return fn;
}
