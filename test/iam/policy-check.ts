import type { AwsCall, CallResource } from '#aws/call-recorder.ts';
import { asList, type Statement } from '../cdk/policy-walk.ts';
import type { EmulatedNames } from './record-components.ts';
import type { CheckedComponent as Component } from './components.ts';

/**
 * Evaluates a synthesized template's identity policies against recorded AWS
 * calls, the way IAM would for the few forms Cairn's stack uses: Allow
 * statements, action wildcards, resource ARNs with wildcards, and the
 * `dynamodb:Attributes` / `dynamodb:ReturnValues` conditions. Anything it does
 * not understand (another condition, NotAction, NotResource) matches nothing,
 * so the check fails rather than passes on it.
 */

export type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

const PARTITION = 'aws';
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const IMAGE_KEY_ID = 'image-key';

/** Logical-id prefixes of the principals, by component (cdk/cairn-stack.ts construct ids). */
export const ROLE_PREFIXES: Record<Component, string> = {
  jobs: 'JobsFunctionServiceRole',
  broker: 'BrokerFunctionServiceRole',
  catalog: 'CatalogFunctionServiceRole',
  scheduler: 'SchedulerFunctionServiceRole',
  agent: 'AgentRole',
  stateMachine: 'BackupJobStateMachineRole',
  schedule: 'SchedulerScheduleRole',
};

/**
 * Grants a component holds that no code path of ours calls, each with the
 * reason it is still needed. Every other grant must be used by a recorded call.
 */
export const ALLOWED_UNUSED: Record<Component, { action: string; reason: string }[]> = {
  jobs: xray(),
  broker: xray(),
  catalog: xray(),
  scheduler: xray(),
  agent: [
    {
      action: 's3:AbortMultipartUpload',
      reason: 'S3ObjectStore.put aborts a multipart upload whose body or S3 failed mid-way (aws/s3-upload.ts); the suite cannot fail a body mid-part through runTask, test/aws/s3-upload.test.ts and s3-object-store.test.ts cover that path',
    },
  ],  // Their logging and X-Ray calls are derived from the state machine's configuration, not allow-listed.
  stateMachine: [],
  schedule: [],
};

function xray(): { action: string; reason: string }[] {
  const reason = 'X-Ray tracing (tracing: ACTIVE): the Lambda runtime sends the segments, not our code';
  return [
    { action: 'xray:PutTraceSegments', reason },
    { action: 'xray:PutTelemetryRecords', reason },
  ];
}

/**
 * Calls IAM authorizes on behalf of a recorded one: S3 asks KMS with the
 * caller's permissions for an SSE-KMS bucket (the image bucket's key). An
 * upload needs GenerateDataKey, and Decrypt too when it is multipart (to
 * complete it); a read needs Decrypt.
 */
export function impliedCalls(calls: readonly AwsCall[], names: EmulatedNames): AwsCall[] {
  const implied: AwsCall[] = [];
  const key: CallResource = { kind: 'unknown', detail: `kms-key:${IMAGE_KEY_ID}` };
  for (const call of calls) {
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
      return resource.arn.replace(/^arn:aws:states:[^:]+:\d+:/, `arn:${PARTITION}:states:${REGION}:${ACCOUNT}:`);
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
    if (type === 'AWS::StepFunctions::StateMachine') return arnOf({ kind: 'stateMachine', arn: names.stateMachineArn });
    return `logical:${id}`;
  };
  // Functions and documents exist only in the template (the emulator runs no
  // Lambda or SSM): a function's ARN is named after its logical id, a
  // document's name is its Name property. Ref of a function is its name.
  const named = (id: string, ref: boolean): string | undefined => {
    const resource = template.Resources[id];
    if (resource?.Type === 'AWS::Lambda::Function') return ref ? id : `arn:${PARTITION}:lambda:${REGION}:${ACCOUNT}:function:${id}`;
    if (resource?.Type === 'AWS::SSM::Document' && ref) return typeof resource.Properties?.Name === 'string' ? resource.Properties.Name : id;
    return undefined;
  };
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string') {
      const pseudo: Record<string, string> = { 'AWS::Partition': PARTITION, 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };
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
    return `unresolved:${JSON.stringify(v)}`;
  };
  return resolve(value);
}

/** IAM's ARN matching: `*` any run of characters, `?` one. */
export function arnMatches(pattern: string, arn: string): boolean {
  const regex = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
  return regex.test(arn);
}

function actionMatches(pattern: string, action: string): boolean {
  return arnMatches(pattern.toLowerCase(), action.toLowerCase());
}

/** The conditions the checker understands; any other makes the statement match nothing. */
function conditionAllows(condition: Statement['Condition'], call: AwsCall): boolean {
  if (condition === undefined) return true;
  for (const [operator, keys] of Object.entries(condition)) {
    for (const [key, expected] of Object.entries(keys)) {
      const values = asList(expected as string | string[]);
      if (operator === 'ForAllValues:StringEquals' && key === 'dynamodb:Attributes') {
        if (call.attributes === undefined || !call.attributes.every((a) => values.includes(a))) return false;
      } else if (operator === 'StringEqualsIfExists' && key === 'dynamodb:ReturnValues') {
        if (call.returnValues !== undefined && !values.includes(call.returnValues)) return false;
      } else return false;
    }
  }
  return true;
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
      if (ALLOWED_UNUSED[component].some((a) => actionMatches(grant.action, a.action) && actionMatches(a.action, grant.action))) continue;
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
