import type { AwsCall } from '#aws/call-recorder.ts';
import { referencedIds } from '../cdk/policy-walk.ts';
import { ROLE_PREFIXES, resolveResource, type Template } from './policy-check.ts';
import type { EmulatedNames } from './record-components.ts';
import type { ServiceComponent } from './components.ts';

/**
 * The calls AWS services make with two of Cairn's roles: Step Functions runs
 * the backup-job ASL with the state machine's role, EventBridge Scheduler
 * invokes the tick with the schedule's role. No SDK client of ours makes them,
 * so the recorder cannot see them; they are derived from what drives them (the
 * ASL's Task states and the state machine's logging and tracing, the
 * schedule's target) and checked against the roles like the recorded ones.
 * Anything this module cannot derive (an integration it does not know, a
 * resource chosen at run time where it needs a static one) throws, so a new
 * kind of call fails the check instead of slipping past it.
 */

export { SERVICE_COMPONENTS, type CheckedComponent, type ServiceComponent } from './components.ts';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Next?: string;
  readonly Default?: string;
  readonly Choices?: { Next: string }[];
  readonly Catch?: { Next: string }[];
  readonly Branches?: AslMachine[];
  readonly ItemProcessor?: AslMachine;
  readonly Iterator?: AslMachine;
}

export interface AslMachine {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
}

export interface AslTask {
  /** The state's name, with the names of the Parallel/Map states it sits in (`Fan/0/Copy`). */
  readonly path: string;
  readonly state: AslState;
}

/**
 * Every Task state an execution can reach: from StartAt along Next, Default,
 * each Choice and each Catch target, and into every Parallel branch and Map
 * processor. A transition to a state that does not exist throws.
 */
export function reachableTasks(machine: AslMachine, prefix = ''): AslTask[] {
  const tasks: AslTask[] = [];
  const seen = new Set<string>();
  const queue = [machine.StartAt];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    const state = machine.States[name];
    if (state === undefined) throw new Error(`ASL: transition to ${prefix}${name}, which is not a state`);
    seen.add(name);
    if (state.Type === 'Task') tasks.push({ path: `${prefix}${name}`, state });
    (state.Branches ?? []).forEach((branch, i) => tasks.push(...reachableTasks(branch, `${prefix}${name}/${i}/`)));
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) tasks.push(...reachableTasks(inner, `${prefix}${name}/`));
    const next = [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next), ...(state.Catch ?? []).map((c) => c.Next)];
    queue.push(...next.filter((n): n is string => n !== undefined));
  }
  return tasks;
}

const arn = (resource: string): AwsCall['resource'] => ({ kind: 'arn', arn: resource });

/** A parameter that must be fixed in the definition (`Name`, not `Name.$`), with its placeholders substituted. */
function staticParameter(task: AslTask, name: string, substitute: (text: string) => string): string {
  const value = task.state.Parameters?.[name];
  if (typeof value !== 'string') throw new Error(`ASL ${task.path}: ${name} is not a fixed string, so the resource it names cannot be checked`);
  return substitute(value);
}

/**
 * Targets of `ssm:SendCommand`. The agent's instance is chosen at run time
 * (`InstanceIds.$` from the broker's reservation), and agents register through
 * SSM hybrid activations with the agent role, so a run-time target is some
 * managed instance (`mi-*` stands for every one); fixed ids are taken as given.
 */
function sendCommandTargets(task: AslTask): string[] {
  const parameters = task.state.Parameters ?? {};
  if ('Targets' in parameters || 'Targets.$' in parameters) throw new Error(`ASL ${task.path}: SendCommand by Targets (tags) is not derived`);
  const instances = parameters.InstanceIds;
  const ids = 'InstanceIds.$' in parameters ? ['mi-*'] : Array.isArray(instances) ? instances.map(String) : [];
  if (ids.length === 0) throw new Error(`ASL ${task.path}: SendCommand names no instances`);
  return ids.map((id) => (id.startsWith('mi-') ? `arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/${id}` : `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${id}`));
}

/** The IAM calls one Task state makes, by its Resource (after substitution). */
function taskCalls(task: AslTask, substitute: (text: string) => string): AwsCall[] {
  const resource = substitute(task.state.Resource ?? '');
  const operation = `Task ${task.path}`;
  // A bare Lambda ARN, or the optimized lambda:invoke integration with its FunctionName.
  // Any partition: the stack substitutes its own (AWS::Partition, `aws` here).
  if (/^arn:aws[a-z-]*:lambda:/.test(resource)) return [{ action: 'lambda:InvokeFunction', operation, resource: arn(resource) }];
  if (/^arn:aws[a-z-]*:states:::lambda:invoke(\.waitForTaskToken)?$/.test(resource)) {
    return [{ action: 'lambda:InvokeFunction', operation, resource: arn(staticParameter(task, 'FunctionName', substitute)) }];
  }
  const sdk = /^arn:aws[a-z-]*:states:::aws-sdk:([a-z0-9]+):([a-zA-Z0-9]+)(\.waitForTaskToken)?$/.exec(resource);
  if (sdk && sdk[1] === 'ssm' && sdk[2] === 'sendCommand') {
    const document = staticParameter(task, 'DocumentName', substitute);
    const documentArn = document.startsWith('arn:') ? document : `arn:aws:ssm:${REGION}:${ACCOUNT}:document/${document}`;
    return [documentArn, ...sendCommandTargets(task)].map((target) => ({ action: 'ssm:SendCommand', operation, resource: arn(target) }));
  }
  throw new Error(`ASL ${task.path}: no IAM derivation for Task Resource ${resource}; teach test/iam/service-calls.ts what it calls`);
}

function onlyResource(template: Template, type: string, idPrefix = ''): [string, Record<string, unknown>] {
  const found = Object.entries(template.Resources).filter(([id, r]) => r.Type === type && id.startsWith(idPrefix));
  if (found.length !== 1) throw new Error(`expected one ${type} ${idPrefix}, found ${found.length}`);
  return [found[0]![0], found[0]![1].Properties ?? {}];
}

function assertRole(roleArn: unknown, prefix: string, what: string): void {
  const [id] = referencedIds(roleArn);
  if (id === undefined || !id.startsWith(prefix)) throw new Error(`${what} runs with ${id ?? JSON.stringify(roleArn)}, not the ${prefix} role the check holds it to`);
}

/**
 * Step Functions' own calls for the state machine's configuration, as the
 * Step Functions developer guide lists them: vended log delivery to CloudWatch
 * Logs (LoggingConfiguration with a destination; these actions take no
 * resource, so `*`), and X-Ray segments and sampling (TracingConfiguration).
 */
const LOG_DELIVERY = ['CreateLogDelivery', 'DeleteLogDelivery', 'DescribeLogGroups', 'DescribeResourcePolicies', 'GetLogDelivery', 'ListLogDeliveries', 'PutResourcePolicy', 'UpdateLogDelivery'];
const TRACING = ['GetSamplingRules', 'GetSamplingTargets', 'PutTelemetryRecords', 'PutTraceSegments'];

function configurationCalls(properties: Record<string, unknown>): AwsCall[] {
  const logging = properties.LoggingConfiguration as { Level?: string; Destinations?: unknown[] } | undefined;
  const tracing = properties.TracingConfiguration as { Enabled?: boolean } | undefined;
  const calls: AwsCall[] = [];
  if (logging && logging.Level !== 'OFF' && (logging.Destinations?.length ?? 0) > 0) {
    calls.push(...LOG_DELIVERY.map((a) => ({ action: `logs:${a}`, operation: `LoggingConfiguration ${logging.Level}`, resource: { kind: 'any' } as const })));
  }
  if (tracing?.Enabled === true) calls.push(...TRACING.map((a) => ({ action: `xray:${a}`, operation: 'TracingConfiguration', resource: { kind: 'any' } as const })));
  return calls;
}

/**
 * The state machine role's calls: those of every reachable Task state of
 * `definition` (the ASL file), its placeholders resolved against the
 * template's DefinitionSubstitutions, plus logging and tracing. The template
 * must deploy that same definition, or the derivation would check another one.
 */
export function stateMachineCalls(template: Template, names: EmulatedNames, definitionText: string, machine: { idPrefix: string; rolePrefix: string } = { idPrefix: '', rolePrefix: ROLE_PREFIXES.stateMachine }): AwsCall[] {
  const [id, properties] = onlyResource(template, 'AWS::StepFunctions::StateMachine', machine.idPrefix);
  if (properties.DefinitionString !== definitionText) throw new Error(`${id} does not deploy the ASL file the calls are derived from`);
  assertRole(properties.RoleArn, machine.rolePrefix, id);
  const substitutions = (properties.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
  const substitute = (text: string) =>
    text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (!(name in substitutions)) throw new Error(`ASL placeholder \${${name}} has no DefinitionSubstitution`);
      return resolveResource(substitutions[name], template, names);
    });
  const definition = JSON.parse(definitionText) as AslMachine;
  return [...reachableTasks(definition).flatMap((task) => taskCalls(task, substitute)), ...configurationCalls(properties)];
}

/** The schedule role's calls: each schedule invokes its target with it; Cairn's targets are Lambda functions. */
export function scheduleCalls(template: Template, names: EmulatedNames): AwsCall[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Scheduler::Schedule')
    .map(([id, r]) => {
      const target = (r.Properties?.Target ?? {}) as { Arn?: unknown; RoleArn?: unknown };
      assertRole(target.RoleArn, ROLE_PREFIXES.schedule, id);
      const targetArn = resolveResource(target.Arn, template, names);
      if (!/^arn:aws[a-z-]*:lambda:/.test(targetArn)) throw new Error(`${id}: no IAM derivation for target ${targetArn}; teach test/iam/service-calls.ts what it calls`);
      return { action: 'lambda:InvokeFunction', operation: `Schedule ${id} target`, resource: arn(targetArn) };
    });
}

/**
 * What the Lambda service does with a function's role while it runs, for the
 * functions whose role has `rolePrefix`: it writes the function's logs to the
 * log group of its LoggingConfig (CreateLogStream, PutLogEvents; a stack-made
 * group, so no CreateLogGroup), and with active tracing sends X-Ray segments
 * and telemetry (no resource type: `*`). Our code makes none of these calls,
 * so the recorder cannot see them.
 */
export function functionRuntimeCalls(template: Template, names: EmulatedNames, rolePrefix: string): AwsCall[] {
  const calls: AwsCall[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const [roleId] = referencedIds(r.Properties?.Role);
    if (roleId === undefined || !roleId.startsWith(rolePrefix)) continue;
    const logging = r.Properties?.LoggingConfig as { LogGroup?: unknown } | undefined;
    if (logging?.LogGroup === undefined) throw new Error(`${id}: no LoggingConfig.LogGroup, so the runtime would create /aws/lambda/<name> itself (logs:CreateLogGroup), which is not derived`);
    const [groupId] = referencedIds(logging.LogGroup);
    if (groupId === undefined || template.Resources[groupId]?.Type !== 'AWS::Logs::LogGroup') throw new Error(`${id}: logs to ${JSON.stringify(logging.LogGroup)}, not a log group of the stack`);
    const stream = `${resolveResource({ 'Fn::GetAtt': [groupId, 'Arn'] }, template, names).replace(/:\*$/, '')}:log-stream:runtime`;
    calls.push(...['CreateLogStream', 'PutLogEvents'].map((a) => ({ action: `logs:${a}`, operation: `${id} logging`, resource: arn(stream) })));
    if ((r.Properties?.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active') {
      calls.push(...['PutTraceSegments', 'PutTelemetryRecords'].map((a) => ({ action: `xray:${a}`, operation: `${id} tracing`, resource: { kind: 'any' } as const })));
    }
  }
  if (calls.length === 0) throw new Error(`no function runs with a role named ${rolePrefix}*`);
  return calls;
}

/** Both service-driven components' calls. */
export function serviceCalls(template: Template, names: EmulatedNames, definitions: { backup: string; restore: string; verify: string; duplicate: string }): Record<ServiceComponent, AwsCall[]> {
  return {
    stateMachine: stateMachineCalls(template, names, definitions.backup, { idPrefix: 'BackupJob', rolePrefix: ROLE_PREFIXES.stateMachine }),
    restoreStateMachine: stateMachineCalls(template, names, definitions.restore, { idPrefix: 'RestoreJob', rolePrefix: ROLE_PREFIXES.restoreStateMachine }),
    verifyStateMachine: stateMachineCalls(template, names, definitions.verify, { idPrefix: 'VerifyJob', rolePrefix: ROLE_PREFIXES.verifyStateMachine }),
    duplicateStateMachine: stateMachineCalls(template, names, definitions.duplicate, { idPrefix: 'DuplicateJob', rolePrefix: ROLE_PREFIXES.duplicateStateMachine }),
    schedule: scheduleCalls(template, names),
  };
}
