import { Duration, Fn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

/** The variables lambdas/agent-grants-environment.ts reads besides the shared ones. */
export const AGENT_GRANTS_ENV = { partition: 'AWS_PARTITION', policyArns: 'AGENT_GRANT_POLICY_ARNS' } as const;

/** The config items that carry the client → instance mapping: policies (their clients' agentInstanceId) and clients. */
export const MAPPING_ITEM_KEYS = ['POLICY', 'CLIENT'] as const;

/** The IAM calls lambdas/agent-grants.ts makes (aws/iam-policy-versions.ts), on the grant policies only. */
export const AGENT_GRANTS_IAM_ACTIONS = ['iam:ListPolicyVersions', 'iam:GetPolicyVersion', 'iam:CreatePolicyVersion', 'iam:DeletePolicyVersion'] as const;

export interface AgentGrantsFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
  /** The agent role's grant policies (cdk/constructs/agent-role.ts), in slot order. */
  readonly grantPolicies: readonly iam.IManagedPolicy[];
}

/**
 * Keeps the agent role's per-instance S3 grants equal to the client →
 * instance mapping (core/policies/agent-grants.ts): reads the mapping from
 * the config table and writes each grant policy's new default version.
 *
 * Narrowest grant that does the job: versions of the stack's own grant
 * policies (List/Get/Create/DeletePolicyVersion on exactly those ARNs). It
 * cannot attach or detach a policy, touch the role's inline policy or trust,
 * or change any other policy. `iam:PutRolePolicy` on the agent role would be
 * wider (any inline policy name, and DeleteRolePolicy could remove the role's
 * other grants) and smaller (10,240 characters for all inline policies of a
 * role, the stack's own included). What it still can do is write any
 * statement into those policies: a compromised function could widen the agent
 * role. A permissions boundary on the agent role would cap that; it is left
 * out while the role's other grants are still moving.
 *
 * Trigger: the config table's stream, filtered to the mapping's items
 * (MAPPING_ITEM_KEYS), rather than the CLI invoking it after a change: every
 * writer (the CLI, `cairn policy apply`, a restore of the table, a console
 * edit) then propagates, and the CLI needs no lambda:InvokeFunction. The
 * function reads the whole mapping each time, so duplicate, late or batched
 * records change nothing; a failed batch is retried twice, then dropped (the
 * next change, or `aws lambda invoke`, resyncs). The stream is KEYS_ONLY:
 * the function never reads item contents from it. Lambda reads a stream shard
 * one batch at a time, and the config table is far too small to have more
 * than one shard, so two runs do not race to write an older mapping last.
 */
export class AgentGrantsFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/agent-grants.ts' });

  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: AgentGrantsFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: AgentGrantsFunction.source(props.projectRoot),
      description: "Cairn agent grants: writes each agent instance's client image prefixes into the agent role's policies",
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
      // At most four policies, four calls each.
      timeout: Duration.seconds(60),
    });
    const policyArns = props.grantPolicies.map((p) => p.managedPolicyArn);
    this.function.addEnvironment(AGENT_GRANTS_ENV.partition, Stack.of(this).partition);
    this.function.addEnvironment(AGENT_GRANTS_ENV.policyArns, Fn.join(',', policyArns));

    // Exactly what lambdas/agent-grants.ts calls: the policies (Query), and the versions of the grant policies.
    props.tables.config.grant(this.function, 'dynamodb:Query');
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: [...AGENT_GRANTS_IAM_ACTIONS], resources: policyArns }));

    this.function.addEventSource(
      new DynamoEventSource(props.tables.config, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: 100,
        // A `cairn policy apply` of several policies becomes one run, not one per item.
        maxBatchingWindow: Duration.seconds(5),
        retryAttempts: 2,
        filters: [lambda.FilterCriteria.filter({ dynamodb: { Keys: { pk: { S: lambda.FilterRule.or(...MAPPING_ITEM_KEYS) } } } })],
      }),
    );
  }
}
