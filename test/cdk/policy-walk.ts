/** Helpers to read IAM statements out of a synthesized CloudFormation template. */

export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export interface FoundStatement {
  /** Logical id of the resource that holds the policy. */
  readonly logicalId: string;
  readonly resourceType: string;
  /** Identity policies are attached to a principal; resource policies sit on a bucket, key, topic. */
  readonly kind: 'identity' | 'resource' | 'trust';
  readonly statement: Statement;
}

interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function statementsOf(document: unknown): Statement[] {
  return asList((document as { Statement?: Statement | Statement[] } | undefined)?.Statement);
}

/** Every policy statement in the template, whatever resource carries it. */
export function allStatements(resources: Record<string, Resource>): FoundStatement[] {
  const found: FoundStatement[] = [];
  const add = (logicalId: string, resourceType: string, kind: FoundStatement['kind'], document: unknown) => {
    for (const statement of statementsOf(document)) found.push({ logicalId, resourceType, kind, statement });
  };
  for (const [logicalId, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
        add(logicalId, resource.Type, 'identity', props.PolicyDocument);
        break;
      case 'AWS::IAM::Role':
        add(logicalId, resource.Type, 'trust', props.AssumeRolePolicyDocument);
        for (const policy of asList(props.Policies as { PolicyDocument: unknown }[] | undefined)) add(logicalId, resource.Type, 'identity', policy.PolicyDocument);
        break;
      case 'AWS::KMS::Key':
        add(logicalId, resource.Type, 'resource', props.KeyPolicy);
        break;
      case 'AWS::S3::BucketPolicy':
      case 'AWS::SNS::TopicPolicy':
      case 'AWS::SQS::QueuePolicy':
        add(logicalId, resource.Type, 'resource', props.PolicyDocument);
        break;
      default:
        break;
    }
  }
  return found;
}

/** The identity statements attached (through AWS::IAM::Policy) to the role with this logical id. */
export function roleStatements(resources: Record<string, Resource>, roleLogicalId: string): Statement[] {
  const statements: Statement[] = [];
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = asList(resource.Properties?.Roles as unknown[] | undefined);
    if (roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }))) {
      statements.push(...statementsOf(resource.Properties?.PolicyDocument));
    }
  }
  return statements;
}

/** Logical ids referenced (Ref / Fn::GetAtt) anywhere inside a value. */
export function referencedIds(value: unknown): string[] {
  const ids = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.Ref === 'string') ids.add(o.Ref);
      const getAtt = o['Fn::GetAtt'];
      if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') ids.add(getAtt[0]);
      Object.values(o).forEach(walk);
    }
  };
  walk(value);
  return [...ids];
}
