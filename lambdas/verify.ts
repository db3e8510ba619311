// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { observedLambda } from './observability.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createVerifyHandler } from './verify-handler.ts';

const env = readEnvironment();
const meter = new UsageMeter();
const { observability, clients } = observedLambda(env, meter);
// Each invocation adds what it used to its job (cairn jobs show prints the cost). The Verify and Read
// steps go to the agent of the image's client (a tape image's: its robot's host) on its SSM managed instance.
const { deps, recording } = meteredDynamoDeps(env, clients, meter, observability);
export const handler = withUsageRecording(createVerifyHandler({ ...deps, agents: 'managed-instances' }, observability), recording);
