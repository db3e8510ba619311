import { Aws, Fn, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';

/**
 * The settings every construct of a Cairn stack shares: the name prefix, the
 * log retention, the Lambda memory. CairnStack records them once
 * (`recordSettings`); each construct reads them back (`settingsOf`), so a
 * construct added later (another function, another log group) follows them
 * without every constructor passing them along.
 */
export interface CairnSettings {
  /** First part of every physical name Cairn sets itself (`<prefix>-backup-job-<stack id>`). */
  readonly namePrefix: string;
  /** Retention of every log group of the stack. */
  readonly logRetention: logs.RetentionDays;
  /** Memory of every Cairn Lambda, in MiB (CPU grows with it). */
  readonly lambdaMemoryMiB: number;
}

export const DEFAULT_SETTINGS: CairnSettings = Object.freeze({
  namePrefix: 'cairn',
  // A year of function logs and execution history: an audit usually looks back that far, and log storage is cheap next to the images.
  logRetention: logs.RetentionDays.ONE_YEAR,
  // The handlers are I/O bound (DynamoDB, Step Functions); 512 MiB keeps cold starts of the bundled SDK short.
  lambdaMemoryMiB: 512,
});

/**
 * Lower case, digits and single hyphens, starting with a letter, at most 20
 * characters: valid in every name it goes into (SNS topics, SSM documents,
 * state machines, log groups) with room for the suffixes.
 */
export const NAME_PREFIX_PATTERN = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$/;

/** The retention values CloudWatch Logs accepts, in days (RetentionDays' values; INFINITE is 9999). */
export const RETENTION_DAYS: readonly number[] = Object.freeze(
  Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number'),
);

/** Checks settings the way CloudFormation would refuse them later, and says which value is wrong. */
export function validateSettings(settings: CairnSettings): CairnSettings {
  if (!NAME_PREFIX_PATTERN.test(settings.namePrefix) || /^(aws|amazon|amzn)/.test(settings.namePrefix)) {
    // SSM refuses document names that start with aws, amazon or amzn.
    throw new Error(`namePrefix must be 1 to 20 lower-case letters, digits or single hyphens, starting with a letter and not with aws, amazon or amzn, not ${JSON.stringify(settings.namePrefix)}`);
  }
  if (!RETENTION_DAYS.includes(settings.logRetention)) {
    throw new Error(`logRetention must be one of the CloudWatch Logs retention periods (${RETENTION_DAYS.join(', ')} days), not ${JSON.stringify(settings.logRetention)}`);
  }
  if (!Number.isInteger(settings.lambdaMemoryMiB) || settings.lambdaMemoryMiB < 128 || settings.lambdaMemoryMiB > 10_240) {
    throw new Error(`lambdaMemoryMiB must be a whole number from 128 to 10240, not ${JSON.stringify(settings.lambdaMemoryMiB)}`);
  }
  return settings;
}

const SETTINGS = Symbol.for('cairn.stack-settings');

/** Records the stack's settings for `settingsOf`; CairnStack calls it first thing. */
export function recordSettings(stack: Stack, settings: CairnSettings): void {
  Object.defineProperty(stack, SETTINGS, { value: Object.freeze({ ...validateSettings(settings) }), enumerable: false });
}

/** The settings of the stack `scope` belongs to; the defaults outside a CairnStack (a construct tested on its own). */
export function settingsOf(scope: IConstruct): CairnSettings {
  return ((Stack.of(scope) as unknown as Record<symbol, CairnSettings | undefined>)[SETTINGS]) ?? DEFAULT_SETTINGS;
}

/**
 * A physical name no other stack uses and no earlier deployment of this one
 * left behind: `<prefix>-<base>-<id>`, where `<id>` is the first group of the
 * stack's own UUID (from AWS::StackId), which is new each time the stack is
 * created. So a stack deployed again after `cdk destroy` does not collide
 * with what it retained (a log group), and two stacks in one account never
 * share a name, whatever their prefixes.
 */
export function uniqueName(scope: IConstruct, base: string): string {
  const { namePrefix } = settingsOf(scope);
  return Fn.join('-', [namePrefix, base, stackIdSuffix()]);
}

/**
 * The Powertools `service` of the stack's Lambdas (POWERTOOLS_SERVICE_NAME):
 * `<prefix>-<stack id>`. Cairn's metrics carry it as their only dimension,
 * so it must differ between stacks in one account and region, or each
 * stack's alarms would count the other's failures.
 */
export function metricsServiceName(scope: IConstruct): string {
  const { namePrefix } = settingsOf(scope);
  return Fn.join('-', [namePrefix, stackIdSuffix()]);
}

/** The first 8 hex digits of the stack's UUID: `arn:...:stack/<name>/<uuid>`. */
export function stackIdSuffix(): string {
  return Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))));
}
