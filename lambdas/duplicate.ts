// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { observedLambda } from './observability.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createDuplicateHandler } from './duplicate-handler.ts';

const env = readEnvironment();
const meter = new UsageMeter();
const { observability, clients } = observedLambda(env, meter);
// Each invocation adds what it used to its job (cairn jobs show prints the cost). The Copy step goes to the
// agent of the image's client on its SSM managed instance; this function never touches the copy's objects.
const { deps, recording } = meteredDynamoDeps(env, clients, meter, observability);
export const handler = withUsageRecording(createDuplicateHandler({ ...deps, agents: 'managed-instances' }, observability), recording);
