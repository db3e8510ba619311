import { Stack } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * The id cdk-nag (AwsSolutions IAM5) gives a wildcard object resource of a
 * bucket in this stack, `AwsSolutions-IAM5[Resource::<LogicalId.Arn>/<keys>]`,
 * so an acknowledgment names exactly that grant and no other wildcard.
 */
export function bucketObjectsFinding(bucket: s3.IBucket, keys: string): string {
  const logicalId = Stack.of(bucket).resolve((bucket.node.defaultChild as s3.CfnBucket).logicalId) as string;
  return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${keys}]`;
}
