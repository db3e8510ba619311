// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { dynamoDeps } from './dynamo-deps.ts';
import { observedLambda } from './observability.ts';
import { createCatalogHandler } from './catalog-handler.ts';

const env = readEnvironment();
const { observability, clients } = observedLambda(env);

export const handler = createCatalogHandler(dynamoDeps(env, clients, observability), observability);
