// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createJanitorHandler } from './janitor-handler.ts';
import { readStateMachineEnvironment } from './state-machine-environment.ts';

const env = readStateMachineEnvironment('janitor');
const { observability, clients } = observedLambda(env);
const { jobs, media, catalog, emm, clock } = dynamoDeps(env, clients, observability);

export const handler = createJanitorHandler({
  jobs,
  media,
  catalog,
  // A tape drive a dead job held is recorded as possibly loaded; the scheduler's idle unload empties it through its agent.
  emm,
  clock,
  stateMachineArn: env.STATE_MACHINE_ARN,
  ...(env.RESTORE_STATE_MACHINE_ARN ? { restoreStateMachineArn: env.RESTORE_STATE_MACHINE_ARN } : {}),
  // One Powertools record per execution it looked after.
  log: (action) => observability.log('info', 'execution janitor', action),
});
