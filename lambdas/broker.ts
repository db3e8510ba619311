// Lambda entry: environment and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createBrokerHandler } from './broker-handler.ts';

// Each invocation adds what it used to its job (cairn jobs show prints the cost). Agents run on SSM managed
// instances: a client with none fails with 48 instead of being sent to no host.
const { deps, recording } = meteredDynamoDeps(readEnvironment());
export const handler = withUsageRecording(createBrokerHandler({ ...deps, agents: 'managed-instances' }), recording);
