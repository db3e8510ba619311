// Lambda entry: environment and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { createBrokerHandler } from './broker-handler.ts';

export const handler = createBrokerHandler(dynamoDeps(readEnvironment()));
