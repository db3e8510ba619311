// The CDK app: `npx cdk synth` / `npx cdk deploy` from the repository root (cdk.json).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CairnStack } from './cairn-stack.ts';
import { stackPropsFromContext } from './context.ts';

const app = new App();

// Environment-agnostic: no account or region lookups, so synth runs offline.
const { stackName, ...props } = stackPropsFromContext((key) => app.node.tryGetContext(key));
new CairnStack(app, stackName, {
  description: 'Cairn: serverless backup service (jobs, broker, catalog, scheduler, backup-job workflow, edge agent access)',
  ...props,
});

// cdk-nag (AwsSolutions) on every synth and deploy: an unacknowledged error
// fails the synth. Each acknowledgment sits next to the construct it is about,
// with its reason (cdk/README.md lists them and the remaining warnings).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

app.synth();
