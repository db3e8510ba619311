// Lambda entry: environment and SDK clients are set up once per cold start.
import { z } from 'zod';
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { parseOrThrow } from '#core/validation.ts';
import { readEnvironment, type LambdaEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createSchedulerHandler } from './scheduler-handler.ts';

/** What the scheduler needs besides the shared environment; the name matches cdk/constructs/scheduler-function.ts. */
const SchedulerEnvironment = z.object({
  STATE_MACHINE_ARN: z.string().regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w.-]+$/, 'the backup-job state machine ARN'),
});
export type SchedulerEnvironment = LambdaEnvironment & Readonly<z.output<typeof SchedulerEnvironment>>;

export function readSchedulerEnvironment(env: NodeJS.ProcessEnv = process.env): SchedulerEnvironment {
  return Object.freeze({ ...readEnvironment(env), ...parseOrThrow(SchedulerEnvironment, env, 'scheduler environment') });
}

const env = readSchedulerEnvironment();
const { observability, clients } = observedLambda(env);
const { config, catalog, jobs, clock } = dynamoDeps(env, clients, observability);
const starter = new SfnExecutionStarter({ client: clients.sfn, stateMachineArn: env.STATE_MACHINE_ARN });

export const handler = createSchedulerHandler({
  config,
  catalog,
  jobs,
  starter,
  clock,
  // One JSON record per tick (Powertools Logger), errors at ERROR level; the tick's metrics.
  log: observability.log,
  observability,
});
