// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { observedLambda } from './observability.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createBrokerHandler } from './broker-handler.ts';

const env = readEnvironment();
const meter = new UsageMeter();
const { observability, clients } = observedLambda(env, meter);
// Each invocation adds what it used to its job (cairn jobs show prints the cost). Agents run on SSM managed
// instances: a client with none fails with 48 instead of being sent to no host.
const { deps, recording } = meteredDynamoDeps(env, clients, meter, observability);
export const handler = withUsageRecording(createBrokerHandler({ ...deps, agents: 'managed-instances' }, observability), recording);
