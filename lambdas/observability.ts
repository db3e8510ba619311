// Powertools for AWS Lambda, for the Lambda entry files only (jobs.ts, broker.ts,
// catalog.ts, scheduler.ts). The *-handler.ts factories take what they need as a
// HandlerObservability, so the standalone runtime and the CLI, which run the same
// handlers, never load Powertools (.dependency-cruiser.js keeps it so).
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';
import { createAwsClients, type AwsClients } from '#aws/clients.ts';
import type { UsageMeter } from '#aws/usage-meter.ts';
import type { LambdaEnvironment } from './environment.ts';
import type { HandlerObservability } from './handler-kit.ts';
import { METRICS_NAMESPACE } from './metric-names.ts';

export interface LambdaObservability extends HandlerObservability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
  /** The scheduler handler's `log` (its tick outcome), on the same logger. */
  log(level: 'info' | 'error', message: string, data: unknown): void;
}

/**
 * Logger, metrics and tracer of one function, created once at cold start.
 * The service name comes from POWERTOOLS_SERVICE_NAME (cdk/constructs/cairn-function.ts),
 * the log level from the function's logging configuration; the namespace is `Cairn`.
 * Metrics leave as embedded-metric-format records on stdout when an invocation ends,
 * and only when it counted something (no empty-metrics warning on every Task state).
 */
export function lambdaObservability(): LambdaObservability {
  const logger = new Logger();
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, logger });
  const tracer = new Tracer();
  const flushMetrics: MiddlewareObj = {
    after: async () => flush(metrics),
    onError: async () => flush(metrics),
  };
  return {
    logger,
    metrics,
    tracer,
    middlewares: [injectLambdaContext(logger, { resetKeys: true }), captureLambdaHandler(tracer), flushMetrics],
    appendKeys: (keys) => logger.appendKeys(keys as never),
    info: (message, data) => (data === undefined ? logger.info(message) : logger.info(message, data)),
    error: (message, data) => (data === undefined ? logger.error(message) : logger.error(message, data)),
    count: (name, value = 1, dimensions) => {
      if (dimensions === undefined) {
        metrics.addMetric(name, MetricUnit.Count, value);
        return;
      }
      // Dimensions of one metric alone: a single metric is written at once, with the default `service` dimension.
      const single = metrics.singleMetric();
      for (const [key, dimension] of Object.entries(dimensions)) single.addDimension(key, dimension);
      single.addMetric(name, MetricUnit.Count, value);
    },
    log: (level, message, data) => logger[level](message, typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : { data }),
  };
}

function flush(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * A Lambda's observability and its SDK clients, each client traced (an X-Ray
 * subsegment per AWS call; Powertools leaves the client alone where tracing is off)
 * and, given a meter, counting its billed requests (the job's usage, docs/cost.md).
 */
export function observedLambda(env: LambdaEnvironment, meter?: UsageMeter): { observability: LambdaObservability; clients: AwsClients } {
  const observability = lambdaObservability();
  const clients = createAwsClients({ region: env.AWS_REGION, instrument: (client) => observability.tracer.captureAWSv3Client(client), ...(meter === undefined ? {} : { meter }) });
  return { observability, clients };
}
