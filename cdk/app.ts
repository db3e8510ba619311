// The CDK app: `npx cdk synth` / `npx cdk deploy` from the repository root (cdk.json).
import { App } from 'aws-cdk-lib';
import { CairnStack } from './cairn-stack.ts';

const app = new App();

/** `-c objectLock=true` arrives as a string, a cdk.json context value as a boolean. */
function flag(value: unknown): boolean {
  return value === true || value === 'true';
}

// Environment-agnostic: no account or region lookups, so synth runs offline.
new CairnStack(app, 'CairnStack', {
  description: 'Cairn: serverless backup service (jobs, broker, catalog, backup-job workflow, edge agent access)',
  objectLock: flag(app.node.tryGetContext('objectLock')),
});

app.synth();
