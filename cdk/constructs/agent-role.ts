import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { bucketObjectsFinding } from '../nag-findings.ts';

export interface AgentRoleProps {
  readonly jobsTable: dynamodb.ITable;
  readonly imageBucket: s3.IBucket;
  readonly imageKey: kms.IKey;
}

/**
 * The role of on-premise edge agents: hosts registered with an SSM hybrid
 * activation (`aws ssm create-activation --iam-role <AgentRoleName>`) run with
 * its credentials. It may report on its task, record progress on job records
 * (those attributes only), and write, read and remove image objects; it cannot
 * read the catalog, the config or other tables, read job records, delete an
 * object version, or touch anything outside `images/`. test/iam checks these
 * grants against every call the agent makes.
 */
/** The job-record attributes the agent writes (aws/dynamo-job-store.ts recordProgress) plus the key; `state` is read by its condition. */
export const AGENT_JOB_ATTRIBUTES = ['pk', 'sk', 'progress', 'updatedAt', 'rev', 'state'] as const;

/** Where the agent's objects live: `<storage unit prefix>/images/<client>/<backup id>/...` (core/ids.ts). */
export const AGENT_OBJECT_KEYS = '*images/*';

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

    // Progress: one conditional UpdateItem of the progress map, updatedAt and rev
    // (JobStore.recordProgress), which also answers with the job's state when it
    // is no longer ACTIVE, so no GetItem. The condition keeps the agent off the
    // record itself (`json`, `state`): it cannot end, restart or rewrite a job.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [props.jobsTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...AGENT_JOB_ATTRIBUTES] },
          'StringEqualsIfExists': { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_NEW'] },
        },
      }),
    );

    // Write fragments, indexes and manifests (multipart uploads: PutObject covers
    // create/upload part/complete; AbortMultipartUpload when a body fails); read
    // them back (the base index of an incremental, restores); and remove what a
    // failed or cancelled backup wrote (edge-agent/image/backup.ts). Deleting
    // without a version id only adds a delete marker in this versioned bucket:
    // the agent cannot destroy a version, so under Object Lock retention nothing
    // it can do removes locked data, and a marker it should not have added is
    // undone by deleting the marker. The bytes a failed backup leaves as
    // noncurrent versions go with the bucket's noncurrent-version expiration
    // (cdk/constructs/image-store.ts). See cdk/README.md "Grants".
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [props.imageBucket.arnForObjects(AGENT_OBJECT_KEYS)],
      }),
    );
    // SSE-KMS: S3 asks KMS with the agent's permissions. GenerateDataKey for an
    // upload, Decrypt to complete a multipart upload and to read.
    props.imageKey.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey');

    // cdk-nag findings, each explained where its grant is made above.
    Validations.of(this.role).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason: 'What SSM Agent needs on a managed instance (registration, Run Command, sessions); AWS keeps it in step with the agent',
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'states:SendTask* support no resource type; the per-task token limits them' },
      { id: bucketObjectsFinding(props.imageBucket, AGENT_OBJECT_KEYS), reason: 'Image objects live under <storage unit>/images/<client>/<backup id>/, chosen at run time; the grant stays inside images/' },
    );
  }
}
