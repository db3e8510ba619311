// Lambda entry: environment, Powertools and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { UsageMeter } from '#aws/usage-meter.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { observedLambda } from './observability.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createRestoreHandler } from './restore-handler.ts';

const env = readEnvironment();
const meter = new UsageMeter();
const { observability, clients } = observedLambda(env, meter);
// Each invocation adds what it used to its job (cairn jobs show prints the cost). No planner: the image's
// index is on a unit this function has no grant to read, so Plan mounts every volume of the image in order
// (core/ports/restore-planner.ts). Agents run on SSM managed instances, as the broker's reservations say.
const { deps, recording } = meteredDynamoDeps(env, clients, meter, observability);
export const handler = withUsageRecording(createRestoreHandler({ ...deps, agents: 'managed-instances' }, observability), recording);
