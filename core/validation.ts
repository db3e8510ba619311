import type { z } from 'zod';
import { ValidationError } from './errors.ts';
import type { StatusCodeValue } from './status-codes.ts';

/** `policies[0].schedules[1].type: Invalid option ...` for every issue zod found. */
export function describeIssues(error: z.ZodError, root?: string): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)), root ?? '');
    return `${path || '(root)'}: ${issue.message}`;
  });
}

/** Parses or throws a ValidationError naming every problem; never a partial value. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, statusCode?: StatusCodeValue): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`invalid ${what}`, describeIssues(result.error), { statusCode, cause: result.error });
  return result.data;
}
