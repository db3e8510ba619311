import { byCodePoint } from '../code-point-order.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';

/**
 * Which image prefixes each edge agent may touch, as IAM policy documents.
 *
 * All agents share one role (SSM hybrid activations and EC2 instance
 * profiles), so what tells one host's requests from another's is the role
 * session: `aws:userid` of a role session is `<role id>:<session name>`
 * (IAM User Guide, global condition keys and policy variables), and AWS
 * names an instance's session after the instance:
 * - EC2: the User Guide's table of `aws:userid` values lists
 *   `role-id:ec2-instance-id` for a role assigned to an EC2 instance (found
 *   quoted in the AWS Tools for PowerShell help: "EC2 Instance Profile -
 *   role-id:ec2-instance-id");
 * - SSM hybrid activations: a managed node's credentials are a session of the
 *   activation's role named after its node id, `assumed-role/<role>/mi-…` in
 *   CloudTrail and in `aws sts get-caller-identity` on the host. No AWS page
 *   found states it in so many words: check it on the first host (docs/
 *   architecture.md says how).
 * So `StringLike aws:userid "*:<instance id>"` matches that host's requests
 * only: a session name cannot contain `:`, and these policies are attached to
 * the agent role alone, so the `*` stands for that role's id. (The
 * cross-service keys `ssm:SourceInstanceArn` / `ec2:SourceInstanceArn` would
 * be an alternative, but need one statement per kind of host.)
 *
 * Pure: the mapping and the bucket in, documents out. The Lambda that keeps
 * the agent role's managed policies current (lambdas/agent-grants.ts) writes
 * what this returns.
 */

/** One client assigned to the agent on one instance. */
export interface ClientInstance {
  readonly client: string;
  readonly instanceId: string;
}

export interface AgentGrantTarget {
  /** `aws`, `aws-cn`, `aws-us-gov`, ...: from the Lambda's own region, never assumed. */
  readonly partition: string;
  readonly bucket: string;
  /** How many managed policies hold the grants (the stack pre-creates that many). */
  readonly documents: number;
}

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

/**
 * What an agent does with image objects: write fragments, indexes and manifests
 * (PutObject covers the multipart calls), read them back (the base of an
 * incremental, restores), remove what a failed backup wrote, abort an upload
 * whose body failed. See cdk/README.md "Grants".
 */
export const AGENT_OBJECT_ACTIONS = ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'] as const;

/** IAM's quota for one customer managed policy: 6,144 characters, whitespace not counted. */
export const MANAGED_POLICY_MAX_CHARS = 6144;

/** SSM managed nodes (`mi-` + 17 hex digits) and EC2 instances (`i-` + 8 or 17 hex digits). */
const INSTANCE_ID = /^(mi-[0-9a-f]{17}|i-[0-9a-f]{8}(?:[0-9a-f]{9})?)$/;
/** Client names as core/model/names.ts allows them: no IAM wildcard (`*`, `?`) and no `/` can reach a Resource. */
const CLIENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The image objects of one client under any storage-unit prefix: `<prefix>/images/<client>/<backup id>/...` (core/ids.ts). */
export function clientObjectArn(partition: string, bucket: string, client: string): string {
  return `arn:${partition}:s3:::${bucket}/*images/${client}/*`;
}

/** IAM counts a policy's characters without whitespace; our JSON has none outside strings, and no string holds any. */
export function policySize(document: PolicyDocument): number {
  return JSON.stringify(document).replace(/\s/g, '').length;
}

/** A document that grants nothing: what a slot holds while no client needs it (IAM refuses an empty policy). */
export function emptyGrantDocument(partition: string, bucket: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Sid: 'NoClientAssigned', Effect: 'Deny', Action: 's3:PutObject', Resource: `arn:${partition}:s3:::${bucket}/cairn-no-client-assigned` }],
  };
}

/**
 * One Allow statement per instance naming every client mapped to it (an
 * instance with too many clients for one document gets several), in
 * instance, then client order, so the same mapping always gives the same
 * documents and an unchanged mapping writes nothing.
 */
export function agentGrantStatements(assignments: readonly ClientInstance[], target: Pick<AgentGrantTarget, 'partition' | 'bucket'>): PolicyStatement[] {
  const byInstance = groupByInstance(assignments);
  const statements: PolicyStatement[] = [];
  for (const [instanceId, clients] of byInstance) {
    let chunk: string[] = [];
    const flush = () => {
      if (chunk.length > 0) statements.push(statementFor(instanceId, chunk, target));
      chunk = [];
    };
    for (const client of clients) {
      const next = statementFor(instanceId, [...chunk, client], target);
      if (chunk.length > 0 && policySize(documentOf([next])) > MANAGED_POLICY_MAX_CHARS) flush();
      chunk.push(client);
    }
    flush();
  }
  return statements;
}

/**
 * The statements packed, in order, into as few documents as IAM's size limit
 * allows. More documents than the stack has slots for is refused (status 20),
 * naming how many assignments fit: the agent role keeps its current grants,
 * and nothing is written.
 */
export function agentGrantDocuments(assignments: readonly ClientInstance[], target: AgentGrantTarget): PolicyDocument[] {
  const documents: PolicyStatement[][] = [];
  for (const statement of agentGrantStatements(assignments, target)) {
    const last = documents.at(-1);
    if (last !== undefined && policySize(documentOf([...last, statement])) <= MANAGED_POLICY_MAX_CHARS) last.push(statement);
    else documents.push([statement]);
  }
  if (documents.length > target.documents) {
    throw new CairnError(
      StatusCode.INVALID_COMMAND_USAGE,
      `too many client assignments for the agent role: ${assignments.length} assignments need ${documents.length} policies of ${MANAGED_POLICY_MAX_CHARS} characters, the stack has ${target.documents}`,
      { details: ['assign fewer clients per instance, use shorter client names, or deploy the stack with more agent grant policies'] },
    );
  }
  return documents.map(documentOf);
}

function statementFor(instanceId: string, clients: readonly string[], target: Pick<AgentGrantTarget, 'partition' | 'bucket'>): PolicyStatement {
  return {
    Effect: 'Allow',
    Action: [...AGENT_OBJECT_ACTIONS],
    Resource: clients.map((client) => clientObjectArn(target.partition, target.bucket, client)),
    Condition: { StringLike: { 'aws:userid': `*:${instanceId}` } },
  };
}

function documentOf(statements: readonly PolicyStatement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

/** Validated, deduplicated, sorted: instance id → its client names. */
function groupByInstance(assignments: readonly ClientInstance[]): Map<string, string[]> {
  const problems: string[] = [];
  const byInstance = new Map<string, Set<string>>();
  for (const { client, instanceId } of assignments) {
    if (!INSTANCE_ID.test(instanceId)) problems.push(`${client}: instance id ${JSON.stringify(instanceId)} is not an SSM managed node (mi-…) or EC2 instance (i-…) id`);
    else if (!CLIENT.test(client)) problems.push(`${JSON.stringify(client)}: not a client name`);
    else byInstance.set(instanceId, (byInstance.get(instanceId) ?? new Set()).add(client));
  }
  if (problems.length > 0) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `cannot grant agents their clients: ${problems.join('; ')}`, { details: problems });
  return new Map([...byInstance.keys()].sort(byCodePoint).map((id) => [id, [...byInstance.get(id)!].sort(byCodePoint)]));
}
