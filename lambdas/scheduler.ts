// Lambda entry: environment and SDK clients are set up once per cold start.
import { createAwsClients } from '#aws/clients.ts';
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { createSchedulerHandler } from './scheduler-handler.ts';
import { readStateMachineEnvironment, type StateMachineEnvironment } from './state-machine-environment.ts';

export type SchedulerEnvironment = StateMachineEnvironment;

export function readSchedulerEnvironment(env: NodeJS.ProcessEnv = process.env): SchedulerEnvironment {
  return readStateMachineEnvironment('scheduler', env);
}

const env = readSchedulerEnvironment();
const { config, catalog, jobs, media, clock } = dynamoDeps(env);
const { sfn } = createAwsClients({ region: env.AWS_REGION });

export const handler = createSchedulerHandler({
  config,
  catalog,
  jobs,
  starter: new SfnExecutionStarter({ client: sfn, stateMachineArn: env.STATE_MACHINE_ARN }),
  // The sweep: jobs whose execution is gone or no longer running are ended, stranded reservations released.
  sweep: { executions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.STATE_MACHINE_ARN }), media },
  clock,
  // The function logs JSON (CDK loggingFormat): one record per tick, errors at ERROR level.
  log: (level, message, data) => console[level](JSON.stringify({ message, ...(typeof data === 'object' && data !== null ? data : { data }) })),
});
