// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createBrokerHandler } from './broker-handler.ts';

const env = readEnvironment();
const { observability, clients } = observedLambda(env);

export const handler = createBrokerHandler(dynamoDeps(env, clients, observability), observability);
