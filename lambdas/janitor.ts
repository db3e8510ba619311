// Lambda entry: environment and SDK clients are set up once per cold start.
import { dynamoDeps } from './dynamo-deps.ts';
import { createJanitorHandler } from './janitor-handler.ts';
import { readStateMachineEnvironment } from './state-machine-environment.ts';

const env = readStateMachineEnvironment('janitor');
const { jobs, media, catalog, clock } = dynamoDeps(env);

export const handler = createJanitorHandler({
  jobs,
  media,
  catalog,
  clock,
  stateMachineArn: env.STATE_MACHINE_ARN,
  // The function logs JSON (CDK loggingFormat): one record per execution it looked after.
  log: (action) => console.info(JSON.stringify({ message: 'execution janitor', ...action })),
});
