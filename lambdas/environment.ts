import { z } from 'zod';
import { parseOrThrow } from '#core/validation.ts';

/**
 * Each function's environment, parsed once at cold start into a frozen object.
 * Names match the `environment` blocks of the CDK constructs in cdk/constructs/.
 */
const LambdaEnvironment = z.object({
  CONFIG_TABLE: z.string().min(1),
  JOBS_TABLE: z.string().min(1),
  CATALOG_TABLE: z.string().min(1),
  MEDIA_TABLE: z.string().min(1),
  AWS_REGION: z.string().min(1).optional(),
});
export type LambdaEnvironment = Readonly<z.output<typeof LambdaEnvironment>>;

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): LambdaEnvironment {
  return Object.freeze(parseOrThrow(LambdaEnvironment, env, 'Lambda environment'));
}
