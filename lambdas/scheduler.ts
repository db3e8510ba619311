// Lambda entry: environment and SDK clients are set up once per cold start.
import { z } from 'zod';
import { createAwsClients } from '#aws/clients.ts';
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { parseOrThrow } from '#core/validation.ts';
import { readEnvironment, type LambdaEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
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
const { config, catalog, jobs, clock } = dynamoDeps(env);
const starter = new SfnExecutionStarter({ client: createAwsClients({ region: env.AWS_REGION }).sfn, stateMachineArn: env.STATE_MACHINE_ARN });

export const handler = createSchedulerHandler({
  config,
  catalog,
  jobs,
  starter,
  clock,
  // The function logs JSON (CDK loggingFormat): one record per tick, errors at ERROR level.
  log: (level, message, data) => console[level](JSON.stringify({ message, ...(typeof data === 'object' && data !== null ? data : { data }) })),
});
