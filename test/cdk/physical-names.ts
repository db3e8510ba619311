/**
 * The physical names a synthesized template asks CloudFormation for, resolved
 * as they would be in one deployment: a stack name and the UUID CloudFormation
 * gives that stack when it creates it. Two deployments can then be compared:
 * two stacks in one account, or one stack deployed again after `cdk destroy`.
 */

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }>;

export interface Deployment {
  readonly stackName: string;
  /** The UUID in AWS::StackId, new each time CloudFormation creates the stack. */
  readonly stackUuid: string;
}

export interface PhysicalName {
  readonly logicalId: string;
  readonly type: string;
  readonly property: string;
  readonly name: string;
  readonly retained: boolean;
}

/**
 * Properties that end in `Name` but set no account-wide name: an inline
 * policy's name is unique only within the principal it is attached to; an
 * alarm's MetricName names the metric it watches, not the alarm.
 */
const NOT_ACCOUNT_WIDE: Readonly<Record<string, readonly string[]>> = { 'AWS::IAM::Policy': ['PolicyName'], 'AWS::CloudWatch::Alarm': ['MetricName'] };

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/**
 * Resolves intrinsics to the string CloudFormation would produce in that
 * deployment. A Ref or GetAtt of a resource of the stack stands for that
 * resource's own physical id, which is as unique as the deployment. An
 * intrinsic this does not know throws, so a new form fails the check loudly.
 */
export function resolveIn(value: unknown, deployment: Deployment, resources: Resources): string {
  const resolve = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    const o = (v ?? {}) as Record<string, unknown>;
    if (typeof o.Ref === 'string') {
      const pseudo: Record<string, string> = {
        'AWS::StackName': deployment.stackName,
        'AWS::StackId': `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${deployment.stackName}/${deployment.stackUuid}`,
        'AWS::Partition': 'aws',
        'AWS::Region': REGION,
        'AWS::AccountId': ACCOUNT,
        'AWS::URLSuffix': 'amazonaws.com',
      };
      if (pseudo[o.Ref] !== undefined) return pseudo[o.Ref]!;
      if (resources[o.Ref] !== undefined) return `${deployment.stackName}/${deployment.stackUuid}/${o.Ref}`;
    }
    const getAtt = o['Fn::GetAtt'];
    if (Array.isArray(getAtt) && resources[String(getAtt[0])] !== undefined) return `${deployment.stackName}/${deployment.stackUuid}/${String(getAtt[0])}.${String(getAtt[1])}`;
    if (Array.isArray(o['Fn::Join'])) {
      const [separator, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(separator);
    }
    if (Array.isArray(o['Fn::Select'])) {
      const [index, list] = o['Fn::Select'] as [number | string, Record<string, unknown>];
      if (Array.isArray(list['Fn::Split'])) {
        const [separator, source] = list['Fn::Split'] as [string, unknown];
        const piece = resolve(source).split(separator)[Number(index)];
        if (piece !== undefined) return piece;
      }
    }
    throw new Error(`cannot resolve ${JSON.stringify(v)}`);
  };
  return resolve(value);
}

/** Every top-level property named `...Name` of every resource, resolved in `deployment`. */
export function physicalNames(resources: Resources, deployment: Deployment): PhysicalName[] {
  const names: PhysicalName[] = [];
  for (const [logicalId, resource] of Object.entries(resources)) {
    for (const [property, value] of Object.entries(resource.Properties ?? {})) {
      if (!property.endsWith('Name') || NOT_ACCOUNT_WIDE[resource.Type]?.includes(property)) continue;
      names.push({ logicalId, type: resource.Type, property, name: resolveIn(value, deployment, resources), retained: resource.DeletionPolicy === 'Retain' });
    }
  }
  return names;
}

/** Names both lists hold: `Type.Property = name`. */
export function sharedNames(a: readonly PhysicalName[], b: readonly PhysicalName[]): string[] {
  const inB = new Set(b.map((n) => n.name));
  return [...new Set(a.filter((n) => inB.has(n.name)).map((n) => `${n.type}.${n.property} = ${n.name}`))];
}
