// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createJobsHandler } from './jobs-handler.ts';

const env = readEnvironment();
const { observability, clients } = observedLambda(env);

export const handler = createJobsHandler(dynamoDeps(env, clients, observability), observability);
