// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { z } from 'zod';
import { SnsReportPublisher } from '#aws/sns-report-publisher.ts';
import { parseOrThrow } from '#core/validation.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { readEnvironment } from './environment.ts';
import { observedLambda } from './observability.ts';
import { createReportHandler } from './report-handler.ts';

/** Besides the shared environment: the reports topic (cdk/constructs/report-function.ts). */
const ReportExtras = z.object({ REPORTS_TOPIC_ARN: z.string().regex(/^arn:[^:]+:sns:[^:]+:\d{12}:[^:]+$/, 'the reports topic ARN') });

const env = Object.freeze({ ...readEnvironment(), ...parseOrThrow(ReportExtras, process.env, 'report environment') });
const { observability, clients } = observedLambda(env);
const { jobs, clock } = dynamoDeps(env, clients, observability);
const publisher = new SnsReportPublisher(env.REPORTS_TOPIC_ARN, clients.sns);

export const handler = createReportHandler({ jobs, clock, publisher }, observability);
