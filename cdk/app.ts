// The CDK app: `npx cdk synth` / `npx cdk deploy` from the repository root (cdk.json).
import { App, Duration } from 'aws-cdk-lib';
import { CairnStack } from './cairn-stack.ts';

const app = new App();

/** `-c objectLock=true` arrives as a string, a cdk.json context value as a boolean. */
function flag(value: unknown): boolean {
  return value === true || value === 'true';
}

/** `-c schedulerRate=5` (minutes between scheduler ticks) arrives as a string, a cdk.json value as a number. */
function minutes(value: unknown, name: string): Duration | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1440) throw new Error(`context ${name} must be a whole number of minutes from 1 to 1440, not ${JSON.stringify(value)}`);
  return Duration.minutes(n);
}

// Environment-agnostic: no account or region lookups, so synth runs offline.
new CairnStack(app, 'CairnStack', {
  description: 'Cairn: serverless backup service (jobs, broker, catalog, scheduler, backup-job workflow, edge agent access)',
  objectLock: flag(app.node.tryGetContext('objectLock')),
  schedulerRate: minutes(app.node.tryGetContext('schedulerRate'), 'schedulerRate'),
});

app.synth();
