// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { observedLambda } from './observability.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createCatalogHandler } from './catalog-handler.ts';

const env = readEnvironment();
const meter = new UsageMeter();
const { observability, clients } = observedLambda(env, meter);
// Each invocation adds what it used to its job (cairn jobs show prints the cost).
const { deps, recording } = meteredDynamoDeps(env, clients, meter, observability);
export const handler = withUsageRecording(createCatalogHandler(deps, observability), recording);
