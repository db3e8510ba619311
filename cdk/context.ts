import { Duration } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { CairnStackProps } from './cairn-stack.ts';
import { DEFAULT_OBJECT_LOCK, type ImageTransition, type ObjectLockSettings } from './constructs/image-store.ts';

/** The stack the app creates when no `stackName` context is given; `cairn --stack` defaults to it too. */
export const DEFAULT_STACK_NAME = 'CairnStack';

/** The context values the app reads (`-c key=value` on the command line, or `context` in cdk.json). */
export const CONTEXT_KEYS = [
  'stackName',
  'namePrefix',
  'logRetention',
  'lambdaMemory',
  'tags',
  'alarmEmail',
  'reportEmail',
  'objectLock',
  'objectLockDays',
  'noncurrentVersionDays',
  'schedulerRate',
  'imageTransitions',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

/**
 * The stack name and CairnStack props from the app's context. A `-c` value
 * arrives as a string, a cdk.json value as a boolean, number or object; both
 * are accepted. A value that is present but wrong throws, naming the key,
 * rather than falling back to a default the user did not ask for.
 */
export function stackPropsFromContext(get: (key: ContextKey) => unknown): CairnStackProps & { stackName: string } {
  const stackName = text(get('stackName'), 'stackName') ?? DEFAULT_STACK_NAME;
  // CloudFormation's own rule for stack names.
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) throw new Error(`context stackName must be a CloudFormation stack name, not ${JSON.stringify(stackName)}`);
  const rate = whole(get('schedulerRate'), 'schedulerRate', 1, 1440);
  return {
    stackName,
    namePrefix: text(get('namePrefix'), 'namePrefix'),
    logRetention: whole(get('logRetention'), 'logRetention', 1, 9999) as logs.RetentionDays | undefined,
    lambdaMemoryMiB: whole(get('lambdaMemory'), 'lambdaMemory', 128, 10_240),
    tags: tags(get('tags')),
    alarmEmail: text(get('alarmEmail'), 'alarmEmail'),
    reportEmail: text(get('reportEmail'), 'reportEmail'),
    objectLock: objectLock(get('objectLock'), get('objectLockDays')),
    noncurrentVersionDays: whole(get('noncurrentVersionDays'), 'noncurrentVersionDays', 1, 36_500),
    schedulerRate: rate === undefined ? undefined : Duration.minutes(rate),
    ...(get('imageTransitions') === undefined ? {} : { imageTransitions: transitions(get('imageTransitions')) }),
  };
}

/** `STANDARD_IA:30,GLACIER_IR:90`: each class and the days after which objects move to it (ImageStore checks them). */
function transitions(value: unknown): ImageTransition[] {
  if (typeof value !== 'string' || !/^[A-Z_]+:\d+(,[A-Z_]+:\d+)*$/.test(value)) throw new Error(`context imageTransitions must look like STANDARD_IA:30,GLACIER_IR:90, not ${JSON.stringify(value)}`);
  return value.split(',').map((part) => {
    const [storageClass, days] = part.split(':');
    return { storageClass: storageClass as ImageTransition['storageClass'], days: Number(days) };
  });
}

function text(value: unknown, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new Error(`context ${key} must be a non-empty string, not ${JSON.stringify(value)}`);
  return value;
}

function whole(value: unknown, key: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`context ${key} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

/** `-c tags='{"Owner":"backup-team"}'`, or an object in cdk.json. */
function tags(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error(`context tags must be a JSON object of strings, not ${JSON.stringify(value)}`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
    throw new Error(`context tags must be a JSON object of strings, not ${JSON.stringify(value)}`);
  }
  return parsed as Record<string, string>;
}

/** `objectLock`: false (default), true (governance), `governance` or `compliance`; `objectLockDays` overrides the default 14. */
function objectLock(mode: unknown, days: unknown): ObjectLockSettings | undefined {
  const lockDays = whole(days, 'objectLockDays', 1, 36_500);
  if (mode === undefined || mode === false || mode === 'false') {
    if (lockDays !== undefined) throw new Error('context objectLockDays needs objectLock (true, governance or compliance)');
    return undefined;
  }
  const normalized = mode === true || mode === 'true' ? DEFAULT_OBJECT_LOCK.mode : typeof mode === 'string' ? mode.toUpperCase() : undefined;
  if (normalized !== 'GOVERNANCE' && normalized !== 'COMPLIANCE') {
    throw new Error(`context objectLock must be true, false, governance or compliance, not ${JSON.stringify(mode)}`);
  }
  return { mode: normalized, days: lockDays ?? DEFAULT_OBJECT_LOCK.days };
}
