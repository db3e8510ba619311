import { z } from 'zod';
import { parseOrThrow } from '#core/validation.ts';
import { readEnvironment, type LambdaEnvironment } from './environment.ts';

/**
 * What the agent-grants function needs besides the shared environment; the
 * names match cdk/constructs/agent-grants-function.ts.
 */
const AgentGrantsEnvironment = z.object({
  IMAGE_BUCKET: z.string().min(3),
  AWS_PARTITION: z.string().regex(/^aws[a-z-]*$/, 'an AWS partition (aws, aws-cn, aws-us-gov, ...)'),
  /** The stack's grant policies, comma-separated, in slot order. */
  AGENT_GRANT_POLICY_ARNS: z
    .string()
    .transform((s) => s.split(','))
    .pipe(z.array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:policy\/[\w+=,.@/-]+$/, 'a customer managed policy ARN')).min(1)),
});
export type AgentGrantsEnvironment = LambdaEnvironment & Readonly<z.output<typeof AgentGrantsEnvironment>>;

export function readAgentGrantsEnvironment(env: NodeJS.ProcessEnv = process.env): AgentGrantsEnvironment {
  return Object.freeze({ ...readEnvironment(env), ...parseOrThrow(AgentGrantsEnvironment, env, 'agent-grants environment') });
}
