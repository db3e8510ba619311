// Lambda entry: environment and SDK clients are set up once per cold start.
import { readEnvironment } from './environment.ts';
import { meteredDynamoDeps } from './metered-deps.ts';
import { withUsageRecording } from './usage-recording.ts';
import { createCatalogHandler } from './catalog-handler.ts';

// Each invocation adds what it used to its job (cairn jobs show prints the cost).
const { deps, recording } = meteredDynamoDeps(readEnvironment());
export const handler = withUsageRecording(createCatalogHandler(deps), recording);
