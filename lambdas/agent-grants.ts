// Lambda entry: environment and SDK clients are set up once per cold start.
import { IamPolicyVersions } from '#aws/iam-policy-versions.ts';
import { configClientInstances } from '#core/policies/sync-agent-grants.ts';
import { readAgentGrantsEnvironment } from './agent-grants-environment.ts';
import { createAgentGrantsHandler } from './agent-grants-handler.ts';
import { dynamoDeps } from './dynamo-deps.ts';

const env = readAgentGrantsEnvironment();
const { config } = dynamoDeps(env);

export const handler = createAgentGrantsHandler({
  mapping: configClientInstances(config),
  policies: new IamPolicyVersions({ partition: env.AWS_PARTITION }),
  slots: { partition: env.AWS_PARTITION, bucket: env.IMAGE_BUCKET, policyArns: env.AGENT_GRANT_POLICY_ARNS },
});
