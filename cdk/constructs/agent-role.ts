import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface AgentRoleProps {
  readonly jobsTable: dynamodb.ITable;
  readonly imageBucket: s3.IBucket;
  readonly imageKey: kms.IKey;
}

/**
 * The role of on-premise edge agents: hosts registered with an SSM hybrid
 * activation (`aws ssm create-activation --iam-role <AgentRoleName>`) run with
 * its credentials. It may report on its task, update its job record and write
 * image data; it cannot read the catalog, the config or other tables, nor delete
 * objects.
 */
export class AgentRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: AgentRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.role = new iam.Role(this, 'Role', {
      description: 'Cairn edge agents on SSM hybrid-activated hosts',
      // Confused-deputy guard: only SSM acting for this account and region may assume it.
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:*` },
        },
      }),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });

    // The Service Authorization Reference lists no resource type for these three
    // actions, so IAM only honours Resource "*" for them (a statement naming the
    // state machine ARN is not a documented way to allow them). What limits them is
    // the task token: an opaque, per-task capability that only reaches the agent
    // inside the SSM command the workflow sent it.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: ['*'],
      }),
    );

    // Progress on its own job record (files, bytes, buffer waits).
    props.jobsTable.grant(this.role, 'dynamodb:GetItem', 'dynamodb:UpdateItem');

    // Write fragments, indexes and manifests (multipart uploads: PutObject covers
    // create/upload part/complete); read them back for restores and verification.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [props.imageBucket.arnForObjects('*')],
      }),
    );
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.imageBucket.bucketArn] }));
    props.imageKey.grant(this.role, 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey');
  }
}
