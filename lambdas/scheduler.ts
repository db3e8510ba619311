// Lambda entry: environment and SDK clients are set up once per cold start.
import { SfnExecutionStarter } from '#aws/sfn-execution-starter.ts';
import { SfnExecutionStatuses } from '#aws/sfn-execution-status.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createSchedulerHandler } from './scheduler-handler.ts';
import { readStateMachineEnvironment, type StateMachineEnvironment } from './state-machine-environment.ts';

export type SchedulerEnvironment = StateMachineEnvironment;

export function readSchedulerEnvironment(env: NodeJS.ProcessEnv = process.env): SchedulerEnvironment {
  return readStateMachineEnvironment('scheduler', env);
}

const env = readSchedulerEnvironment();
const { observability, clients } = observedLambda(env);
const { config, catalog, jobs, media, clock } = dynamoDeps(env, clients, observability);
const { sfn } = clients;

export const handler = createSchedulerHandler({
  config,
  catalog,
  jobs,
  starter: new SfnExecutionStarter({ client: sfn, stateMachineArn: env.STATE_MACHINE_ARN }),
  // The sweep: jobs whose execution is gone or no longer running are ended, stranded reservations released.
  sweep: { executions: new SfnExecutionStatuses({ client: sfn, stateMachineArn: env.STATE_MACHINE_ARN }), media },
  clock,
  // One JSON record per tick (Powertools Logger), errors at ERROR level; the tick's metrics.
  log: observability.log,
  observability,
});
