import type { AwsCall, CallResource } from '#aws/call-recorder.ts';
import { agentGrantDocuments, type ClientInstance } from '#core/policies/agent-grants.ts';
import { asList, type Statement } from '../cdk/policy-walk.ts';
import type { EmulatedNames } from './record-components.ts';
import type { CheckedComponent as Component } from './components.ts';

/**
 * Evaluates a synthesized template's identity policies against recorded AWS
 * calls, the way IAM would for the few forms Cairn's stack uses: Allow
 * statements, action wildcards, resource ARNs with wildcards, the
 * `dynamodb:Attributes` / `dynamodb:ReturnValues` conditions, and
 * `StringLike` on `aws:userid` (the caller's session, see SessionCall: how the
 * agent role's per-instance S3 grants tell hosts apart). Anything it does
 * not understand (another condition, NotAction, NotResource) matches nothing,
 * so the check fails rather than passes on it.
 */

export type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

const PARTITION = 'aws';
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const IMAGE_KEY_ID = 'image-key';
const REPORTS_KEY_ID = 'reports-key';
const STACK_NAME = 'CairnStack';
const STACK_ID = `arn:${PARTITION}:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK_NAME}/4f1c2d3e-0000-4000-8000-000000000000`;

/** Logical-id prefixes of the principals, by component (cdk/cairn-stack.ts construct ids). */
export const ROLE_PREFIXES: Record<Component, string> = {
  jobs: 'JobsFunctionServiceRole',
  broker: 'BrokerFunctionServiceRole',
  catalog: 'CatalogFunctionServiceRole',
  restore: 'RestoreFunctionServiceRole',
  verify: 'VerifyFunctionServiceRole',
  duplicate: 'DuplicateFunctionServiceRole',
  scheduler: 'SchedulerFunctionServiceRole',
  janitor: 'JanitorFunctionServiceRole',
  report: 'ReportFunctionServiceRole',
  agent: 'AgentRole',
  catalogJob: 'CatalogJobFunctionFunctionServiceRole',
  stateMachine: 'BackupJobStateMachineRole',
  restoreStateMachine: 'RestoreJobStateMachineRole',
  verifyStateMachine: 'VerifyJobStateMachineRole',
  duplicateStateMachine: 'DuplicateJobStateMachineRole',
  schedule: 'SchedulerScheduleRole',
};

/**
 * Grants a component holds that no code path of ours calls, each with the
 * reason it is still needed. Every other grant must be used by a recorded call.
 */
export const ALLOWED_UNUSED: Record<Component, { action: string; resource?: RegExp; reason: string }[]> = {
  // Their logging and X-Ray calls are derived from each function's configuration (service-calls.ts functionRuntimeCalls).
  jobs: [],
  broker: [
    {
      action: 'dynamodb:GetItem',
      resource: /table\/[^/]*catalog$/,
      reason: "DynamoCatalogStore.claimBackupId reads the claim that refused it (aws/dynamo-catalog-store.ts): only when two jobs of a client claim in the same second or a Reserve step is retried, which the recorded workflows hit by timing alone (CI run of 2026-12-03 failed on it as missing); test/contracts catalog-store claims cover that path",
    },
  ],
  catalog: [],
  restore: [],
  verify: [
    {
      action: 'dynamodb:Query',
      resource: /table\/[^/]*catalog(\/index\/.*)?$/,
      reason: "A restore rehearsal's Queue and Start list the client's images (its latest view, the incremental chain behind it: core/jobs/rehearsal.ts); the recording runs no rehearsal; test/aws/rehearsal-aws.test.ts runs those calls on the emulator",
    },
  ],
  duplicate: [],
  scheduler: [
    {
      action: 'ssm:SendCommand',
      resource: /:ec2:[^:]*:[^:]*:instance\/\*$/,
      reason: "The idle drive unload sends to the robot's agent, on an EC2 instance (instance profile) as on a hybrid one; the recording's robot host is a hybrid instance (mi-) only",
    },
  ],
  janitor: [
    {
      action: 'ssm:SendCommand',
      resource: /:ec2:[^:]*:[^:]*:instance\/\*$/,
      reason: "A stopped job's delete-snapshot goes to its agent on an EC2 instance (instance profile) as on a hybrid one; the recording's client is on a hybrid instance (mi-) only",
    },
  ],
  report: [],
  catalogJob: [
    {
      action: 's3:AbortMultipartUpload',
      reason: 'S3ObjectStore.put aborts a multipart upload whose body or S3 failed mid-way (aws/s3-upload.ts); a catalog image of the recording is one small PUT, test/aws/s3-upload.test.ts covers that path',
    },
  ],
  agent: [
    {
      action: 's3:AbortMultipartUpload',
      reason: 'S3ObjectStore.put aborts a multipart upload whose body or S3 failed mid-way (aws/s3-upload.ts); the suite cannot fail a body mid-part through runTask, test/aws/s3-upload.test.ts and s3-object-store.test.ts cover that path',
    },
    {
      action: 's3:GetObject',
      resource: /cdk-[a-z0-9]+-assets-.*\.mjs$/,
      reason: "the SSM Agent's aws:downloadContent step fetches the agent bundle from the CDK assets bucket with the instance's credentials (cdk/constructs/agent-document.ts); no code of ours makes the call",
    },
  ],  // Their logging and X-Ray calls are derived from the state machine's configuration, not allow-listed.
  stateMachine: [
    {
      action: 'ssm:SendCommand',
      resource: /:ec2:[^:]*:[^:]*:instance\/\*$/,
      reason: 'EC2 agents (instance profile) are targets as hybrid ones are; the recorded workflow sends to a hybrid instance (mi-) only',
    },
  ],
  restoreStateMachine: [
    {
      action: 'ssm:SendCommand',
      resource: /:ec2:[^:]*:[^:]*:instance\/\*$/,
      reason: 'EC2 agents (instance profile) are targets as hybrid ones are; the derived workflow sends to a hybrid instance (mi-) only',
    },
  ],
  verifyStateMachine: [
    {
      action: 'ssm:SendCommand',
      resource: /:ec2:[^:]*:[^:]*:instance\/\*$/,
      reason: 'EC2 agents (instance profile) are targets as hybrid ones are; the derived workflow sends to a hybrid instance (mi-) only',
    },
  ],
  duplicateStateMachine: [
    {
      action: 'ssm:SendCommand',
      resource: /:ec2:[^:]*:[^:]*:instance\/\*$/,
      reason: 'EC2 agents (instance profile) are targets as hybrid ones are; the derived workflow sends to a hybrid instance (mi-) only',
    },
  ],
  schedule: [],
};

/**
 * Calls IAM authorizes on behalf of a recorded one: S3 asks KMS with the
 * caller's permissions for an SSE-KMS bucket (the image bucket's key). An
 * upload needs GenerateDataKey, and Decrypt too when it is multipart (to
 * complete it); a read needs Decrypt.
 */
export function impliedCalls(calls: readonly AwsCall[], names: EmulatedNames): AwsCall[] {
  const implied: AwsCall[] = [];
  const key: CallResource = { kind: 'unknown', detail: `kms-key:${IMAGE_KEY_ID}` };
  const reportsKey: CallResource = { kind: 'unknown', detail: `kms-key:${REPORTS_KEY_ID}` };
  for (const call of calls) {
    // The reports topic is encrypted (SSE-KMS): SNS asks KMS for a data key with the publisher's permissions.
    if (call.action === 'sns:Publish' && call.resource.kind === 'arn' && call.resource.arn === names.reportsTopicArn) {
      implied.push({ action: 'kms:GenerateDataKey', operation: 'Publish (SSE-KMS)', resource: reportsKey }, { action: 'kms:Decrypt', operation: 'Publish (SSE-KMS)', resource: reportsKey });
    }
    if (call.resource.kind !== 'object' || call.resource.bucket !== names.bucket) continue;
    if (call.action === 's3:PutObject') {
      implied.push({ action: 'kms:GenerateDataKey', operation: `${call.operation} (SSE-KMS)`, resource: key });
      if (call.operation !== 'PutObject') implied.push({ action: 'kms:Decrypt', operation: `${call.operation} (SSE-KMS)`, resource: key });
    }
    if (call.action === 's3:GetObject' || call.action === 's3:GetObjectVersion') implied.push({ action: 'kms:Decrypt', operation: `${call.operation} (SSE-KMS)`, resource: key });
  }
  return implied;
}

/** The ARN IAM authorizes a call against. */
export function arnOf(resource: CallResource): string {
  switch (resource.kind) {
    case 'table':
      return `arn:${PARTITION}:dynamodb:${REGION}:${ACCOUNT}:table/${resource.table}`;
    case 'bucket':
      return `arn:${PARTITION}:s3:::${resource.bucket}`;
    case 'object':
      return `arn:${PARTITION}:s3:::${resource.bucket}/${resource.key}`;
    case 'stateMachine':
    case 'execution':
      return resource.arn.replace(/^arn:aws:states:[^:]+:\d+:/, `arn:${PARTITION}:states:${REGION}:${ACCOUNT}:`);
    case 'eventBus':
      return resource.bus.startsWith('arn:') ? resource.bus : `arn:${PARTITION}:events:${REGION}:${ACCOUNT}:event-bus/${resource.bus}`;
    case 'ssmDocument':
      return `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:document/${resource.name}`;
    case 'ssmInstance':
      return resource.instanceId.startsWith('mi-') ? `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:managed-instance/${resource.instanceId}` : `arn:${PARTITION}:ec2:${REGION}:${ACCOUNT}:instance/${resource.instanceId}`;
    case 'any':
      return '*';
    case 'arn':
      return resource.arn;
    case 'unknown':
      return resource.detail.startsWith('kms-key:') ? `arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/${resource.detail.slice(8)}` : `unknown:${resource.detail}`;
  }
}

/**
 * Resolves CloudFormation intrinsics in a policy resource to an ARN pattern:
 * tables, the image bucket and key, and the state machine become the ARNs of
 * the emulator's resources of the same role; pseudo parameters the test's.
 */
export function resolveResource(value: unknown, template: Template, names: EmulatedNames): string {
  const logical = (id: string): string => {
    const type = template.Resources[id]?.Type;
    if (type === 'AWS::DynamoDB::Table') {
      const table = (['config', 'jobs', 'catalog', 'media'] as const).find((t) => id.startsWith(`Tables${t[0]!.toUpperCase()}${t.slice(1)}Table`));
      if (table) return `arn:${PARTITION}:dynamodb:${REGION}:${ACCOUNT}:table/${names.tables[table]}`;
    }
    if (type === 'AWS::S3::Bucket' && id.startsWith('ImagesImageBucket')) return `arn:${PARTITION}:s3:::${names.bucket}`;
    if (type === 'AWS::KMS::Key' && id.startsWith('ImagesImageKey')) return `arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/${IMAGE_KEY_ID}`;
    if (type === 'AWS::KMS::Key' && id.startsWith('ReportsKey')) return `arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/${REPORTS_KEY_ID}`;
    if (type === 'AWS::SNS::Topic' && id.startsWith('Reports') && names.reportsTopicArn) return names.reportsTopicArn;
    if (type === 'AWS::StepFunctions::StateMachine') {
      // Each machine of the stack is its own emulated one: a grant on the verify machine is never taken for one on the backup machine.
      const machine = id.startsWith('RestoreJob') ? names.restoreStateMachineArn : id.startsWith('VerifyJob') ? names.verifyStateMachineArn : id.startsWith('DuplicateJob') ? names.duplicateStateMachineArn : names.stateMachineArn;
      return arnOf({ kind: 'stateMachine', arn: machine ?? names.stateMachineArn });
    }
    // A log group exists only in the template; its Arn attribute ends in `:*` (its streams).
    if (type === 'AWS::Logs::LogGroup') return `arn:${PARTITION}:logs:${REGION}:${ACCOUNT}:log-group:${id}:*`;
    return `logical:${id}`;
  };
  // Functions and documents exist only in the template (the emulator runs no
  // Lambda or SSM): a function's ARN is named after its logical id, a
  // document's name is its Name property. Ref of a function is its name.
  const named = (id: string, ref: boolean): string | undefined => {
    const resource = template.Resources[id];
    if (resource?.Type === 'AWS::Lambda::Function') return ref ? id : `arn:${PARTITION}:lambda:${REGION}:${ACCOUNT}:function:${id}`;
    // A stack-unique name is an Fn::Join of the prefix and the stack's id (cdk/stack-settings.ts uniqueName).
    if (resource?.Type === 'AWS::SSM::Document' && ref) return resource.Properties?.Name === undefined ? id : resolve(resource.Properties.Name);
    return undefined;
  };
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string') {
      const pseudo: Record<string, string> = { 'AWS::Partition': PARTITION, 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com', 'AWS::StackName': STACK_NAME, 'AWS::StackId': STACK_ID };
      if (o.Ref === 'AWS::NoValue') return '';
      if (pseudo[o.Ref] !== undefined) return pseudo[o.Ref]!;
      // Ref of a state machine is its ARN; of a table or bucket its name (not used in policies here).
      return named(o.Ref, true) ?? logical(o.Ref);
    }
    if (Array.isArray(o['Fn::GetAtt'])) {
      const id = String(o['Fn::GetAtt'][0]);
      return (o['Fn::GetAtt'][1] === 'Arn' ? named(id, false) : undefined) ?? logical(id);
    }
    if (Array.isArray(o['Fn::Join'])) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(separator);
    }
    // A part of an ARN (Arn.split: the state machine's name in its executions' ARN).
    if (Array.isArray(o['Fn::Select'])) {
      const [index, list] = o['Fn::Select'] as [number | string, unknown];
      const split = (list as Record<string, unknown>)['Fn::Split'];
      if (Array.isArray(split)) {
        const [separator, source] = split as [string, unknown];
        const part = resolve(source).split(separator)[Number(index)];
        if (part !== undefined) return part;
      }
    }
    return `unresolved:${JSON.stringify(v)}`;
  };
  return resolve(value);
}

/**
 * Each pattern's compiled RegExp. The mutation tests run checkGrants some 150
 * times over every call and grant of the stack: compiling the same few
 * hundred patterns again for each match was most of iam-grants.test.ts's
 * own CPU (its two mutation tests: 21.8 s, 1.9 s cached; the file's CPU
 * with moto's recording, 34.6 s then 24.6 s).
 */
const compiledPatterns = new Map<string, RegExp>();

/** IAM's ARN matching: `*` any run of characters, `?` one. */
export function arnMatches(pattern: string, arn: string): boolean {
  let regex = compiledPatterns.get(pattern);
  if (regex === undefined) {
    regex = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
    compiledPatterns.set(pattern, regex);
  }
  return regex.test(arn);
}

function actionMatches(pattern: string, action: string): boolean {
  return arnMatches(pattern.toLowerCase(), action.toLowerCase());
}

/**
 * A call made with a role session's credentials: `userid` is `aws:userid`,
 * `<role id>:<session name>`, and AWS names an agent host's session after its
 * instance (core/policies/agent-grants.ts). A call without it has no
 * `aws:userid` in its request context, so a condition on it does not match.
 */
export type SessionCall = AwsCall & { readonly userid?: string };

/** The agent host the IAM tests run "on": an SSM managed node, in a session of the agent role. */
export const TEST_AGENT_INSTANCE = 'mi-0123456789abcdef0';
export const TEST_AGENT_SESSION = `AROAAGENTROLEEXAMPLE1:${TEST_AGENT_INSTANCE}`;

/** The calls as made from one agent host's session. */
export function inSession(calls: readonly AwsCall[], userid: string): SessionCall[] {
  return calls.map((call) => ({ ...call, userid }));
}

/**
 * The template as it stands once the agent-grants function has run for this
 * mapping: its documents (core/policies/agent-grants.ts, for the emulator's
 * bucket) added as policies of the agent role, so the checks and mutations
 * that read the role's policies see the per-instance S3 grants too.
 */
export function withAgentGrantsAsWritten(template: Template, names: EmulatedNames, assignments: readonly ClientInstance[]): Template {
  const copy = JSON.parse(JSON.stringify(template)) as Template;
  const roleId = Object.keys(copy.Resources).find((id) => copy.Resources[id]!.Type === 'AWS::IAM::Role' && id.startsWith(ROLE_PREFIXES.agent));
  if (roleId === undefined) throw new Error('no agent role in the template');
  for (const [i, document] of agentGrantDocuments(assignments, { partition: PARTITION, bucket: names.bucket, documents: 4 }).entries()) {
    copy.Resources[`AgentClientGrantsAsWritten${i}`] = { Type: 'AWS::IAM::Policy', Properties: { PolicyDocument: JSON.parse(JSON.stringify(document)), Roles: [{ Ref: roleId }] } };
  }
  return copy;
}

/** The conditions the checker understands; any other makes the statement match nothing. */
function conditionAllows(condition: Statement['Condition'], call: SessionCall): boolean {
  if (condition === undefined) return true;
  for (const [operator, keys] of Object.entries(condition)) {
    for (const [key, expected] of Object.entries(keys)) {
      const values = asList(expected as string | string[]);
      if (operator === 'ForAllValues:StringEquals' && key === 'dynamodb:Attributes') {
        if (call.attributes === undefined || !call.attributes.every((a) => values.includes(a))) return false;
      } else if (operator === 'StringEqualsIfExists' && key === 'dynamodb:ReturnValues') {
        if (call.returnValues !== undefined && !values.includes(call.returnValues)) return false;
      } else if (operator === 'StringLike' && key === 'aws:userid') {
        // StringLike: `*` and `?` as in ARNs, case-sensitive; a missing key matches nothing.
        if (call.userid === undefined || !values.some((v) => arnMatches(v, call.userid!))) return false;
      } else return false;
    }
  }
  return true;
}

function isSessionScoped(statement: Statement): boolean {
  return Object.values(statement.Condition ?? {}).some((keys) => 'aws:userid' in keys);
}

export interface Grant {
  readonly action: string;
  readonly resource: string;
  readonly statement: Statement;
}

/** Every (action pattern, resource pattern) an Allow statement grants. */
export function grantsOf(statements: readonly Statement[], template: Template, names: EmulatedNames): Grant[] {
  return statements
    .filter((s) => s.Effect === 'Allow')
    .flatMap((statement) =>
      asList(statement.Action).flatMap((action) =>
        asList(statement.Resource as unknown[] | undefined)
          .map((r) => resolveResource(r, template, names))
          .filter((r) => r !== '')
          .map((resource) => ({ action, resource, statement })),
      ),
    );
}

export function allows(grant: Grant, call: AwsCall): boolean {
  if (grant.statement.NotAction !== undefined || (grant.statement as { NotResource?: unknown }).NotResource !== undefined) return false;
  return actionMatches(grant.action, call.action) && arnMatches(grant.resource, arnOf(call.resource)) && conditionAllows(grant.statement.Condition, call);
}

export interface CheckResult {
  /** Calls no grant allows: `component: action on resource (operation)`. */
  readonly missing: string[];
  /** Grants no call uses and the allow-list does not explain: `component: action on resource`. */
  readonly excess: string[];
  /** Allow statements that grant a whole service (`s3:*`) or everything (`*`). */
  readonly serviceWide: string[];
}

/** Checks each component's calls against its role's statements, and every statement of the template for service-wide actions. */
export function checkGrants(
  template: Template,
  names: EmulatedNames,
  calls: Record<Component, readonly AwsCall[]>,
  statementsOf: (component: Component, template: Template) => Statement[],
): CheckResult {
  const missing: string[] = [];
  const excess: string[] = [];
  for (const component of Object.keys(calls) as Component[]) {
    const grants = grantsOf(statementsOf(component, template), template, names);
    const all = [...calls[component], ...impliedCalls(calls[component], names)];
    const seen = new Set<string>();
    for (const call of all) {
      const line = `${component}: ${call.action} on ${arnOf(call.resource)} (${call.operation}${call.attributes ? `; attributes ${call.attributes.join(',')}` : ''})`;
      if (seen.has(line)) continue;
      seen.add(line);
      if (!grants.some((g) => allows(g, call))) missing.push(line);
    }
    for (const grant of grants) {
      if (all.some((call) => allows(grant, call))) continue;
      // The per-instance grants (conditioned on the session) are written at run
      // time, the same four object actions for every client of an instance:
      // whether a run read back or deleted under each client says nothing
      // about the stack. Missing calls and mutations still see them;
      // test/iam/agent-grants.test.ts and test/core/agent-grants.test.ts pin their shape.
      if (isSessionScoped(grant.statement)) continue;
      if (ALLOWED_UNUSED[component].some((a) => actionMatches(grant.action, a.action) && actionMatches(a.action, grant.action) && (!a.resource || a.resource.test(grant.resource)))) continue;
      excess.push(`${component}: ${grant.action} on ${grant.resource}`);
    }
  }
  return { missing, excess: [...new Set(excess)], serviceWide: serviceWideActions(template) };
}

/**
 * Allow statements anywhere in the template whose action is `*` or a whole
 * service (`dynamodb:*`, `s3:*`, ...). The one exemption is the key policy
 * statement that hands a KMS key to the account (root principal, `kms:*`),
 * without which no IAM policy could grant use of the key at all.
 */
export function serviceWideActions(template: Template): string[] {
  const found: string[] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    const props = resource.Properties ?? {};
    const documents: unknown[] =
      resource.Type === 'AWS::IAM::Role'
        ? [...asList(props.Policies as { PolicyDocument: unknown }[] | undefined).map((p) => p.PolicyDocument)]
        : [props.PolicyDocument, props.KeyPolicy];
    for (const document of documents) {
      for (const statement of asList((document as { Statement?: Statement | Statement[] } | undefined)?.Statement)) {
        if (statement.Effect !== 'Allow') continue;
        const keyRoot = resource.Type === 'AWS::KMS::Key' && /":root"\]\]\}\}$/.test(JSON.stringify(statement.Principal));
        for (const action of asList(statement.Action)) {
          if ((action === '*' || action.endsWith(':*')) && !(keyRoot && action === 'kms:*')) found.push(`${id}: ${action}`);
        }
      }
    }
  }
  return found;
}
