import { Stack, Validations } from 'aws-cdk-lib';
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
 * The role of edge agents, on premise and on EC2 alike. On-premise hosts
 * registered with an SSM hybrid activation (`cairn --aws agent activate`,
 * which calls CreateActivation with this role) run with its credentials,
 * which SSM hands them; EC2 instances get the same role through
 * `instanceProfile` (stack output AgentInstanceProfileName), so an EC2 client
 * is managed by SSM and runs the agent exactly as a hybrid one does. It may report on its task, record progress on job records
 * (those attributes only), and write, read and remove the image objects of the
 * clients assigned to its instance (grantPolicies); it cannot
 * read the catalog, the config or other tables, read job records, delete an
 * object version, or touch anything outside `images/`. test/iam checks these
 * grants against every call the agent makes.
 */
/** The job-record attributes the agent writes (aws/dynamo-job-store.ts recordProgress) plus the key; `state` is read by its condition. */
export const AGENT_JOB_ATTRIBUTES = ['pk', 'sk', 'progress', 'updatedAt', 'rev', 'state'] as const;

/**
 * How many customer managed policies hold the per-instance S3 grants: each
 * holds at most 6,144 characters, and a role may have 10 managed policies
 * attached (AmazonSSMManagedInstanceCore is one). Four hold about 240 client
 * assignments (docs/architecture.md "Agent access"); beyond that the
 * agent-grants function refuses the mapping and changes nothing.
 */
export const AGENT_GRANT_POLICY_COUNT = 4;

export class AgentRole extends Construct {
  readonly role: iam.Role;
  /** The managed policies the agent-grants function writes the per-instance S3 grants into, in slot order. */
  readonly grantPolicies: readonly iam.ManagedPolicy[];
  /** For EC2 instances that run the agent: attach it at launch or with `aws ec2 associate-iam-instance-profile`. */
  readonly instanceProfile: iam.InstanceProfile;

  constructor(scope: Construct, id: string, props: AgentRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.role = new iam.Role(this, 'Role', {
      description: 'Cairn edge agents on SSM hybrid-activated hosts and EC2 instances',
      assumedBy: new iam.CompositePrincipal(
        // Hybrid activations. Confused-deputy guard: only SSM acting for this account and region may assume it.
        new iam.ServicePrincipal('ssm.amazonaws.com', {
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:*` },
          },
        }),
        // EC2 instances launched with the instance profile below. EC2 assumes an instance
        // profile's role for the instance itself; who may attach it is governed by iam:PassRole.
        new iam.ServicePrincipal('ec2.amazonaws.com'),
      ),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role });

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

    // No S3 grant here: which image objects an agent may touch depends on the
    // clients assigned to its instance, so those grants live in the managed
    // policies below, written by the agent-grants function
    // (cdk/constructs/agent-grants-function.ts, core/policies/agent-grants.ts):
    // per instance, PutObject/GetObject/DeleteObject/AbortMultipartUpload on
    // `<bucket>/*images/<client>/*` of its clients, conditioned on the
    // session (`aws:userid` `*:<instance id>`). Until the function has run, an
    // agent can touch no image object.
    //
    // The policies start as a statement that grants nothing (IAM refuses an
    // empty policy). Its text never changes, so a later deploy does not
    // overwrite what the function wrote (CloudFormation updates a managed
    // policy only when its template document changes). A deploy that adds
    // slots needs the function run once (cdk/README.md, Synth and deploy).
    this.grantPolicies = Array.from({ length: AGENT_GRANT_POLICY_COUNT }, (_, i) =>
      new iam.ManagedPolicy(this, `ClientGrants${i}`, {
        // No count in the text: a changed description replaces the policy, and a new policy starts empty.
        description: `Cairn: image prefixes of the clients assigned to each agent instance, written by the agent-grants function (slot ${i})`,
        document: iam.PolicyDocument.fromJson({
          Version: '2012-10-17',
          Statement: [{ Sid: 'NoClientAssigned', Effect: 'Deny', Action: 's3:PutObject', Resource: props.imageBucket.arnForObjects('cairn-no-client-assigned') }],
        }),
        roles: [this.role],
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
    );
  }
}
