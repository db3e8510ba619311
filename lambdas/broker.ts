// Lambda entry: environment and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { createBrokerHandler } from './broker-handler.ts';

// Agents run on SSM managed instances: a client with none fails with 48 instead of being sent to no host.
export const handler = createBrokerHandler({ ...dynamoDeps(readEnvironment()), agents: 'managed-instances' });
