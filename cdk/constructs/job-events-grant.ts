import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * Lets a function publish job state changes (lambdas/dynamo-deps.ts wraps the
 * job store of every Lambda in a publisher): `events:PutEvents` on the
 * account's default event bus of the stack's region, and no other bus.
 * Granted to the functions that change a job's state (test/iam records
 * which do): jobs (queue, retry, end) and broker (QUEUED → ACTIVE).
 */
export function grantPutJobEvents(grantee: iam.IGrantable & IConstruct): void {
  const defaultBus = Arn.format({ service: 'events', resource: 'event-bus', resourceName: 'default', arnFormat: ArnFormat.SLASH_RESOURCE_NAME }, Stack.of(grantee));
  grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [defaultBus] }));
}
