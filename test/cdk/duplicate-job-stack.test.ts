import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableNames, type TableName } from '#aws/tables.ts';
import { REPO_ROOT } from '../../cdk/cairn-stack.ts';
import { DUPLICATE_DEFINITION_SUBSTITUTIONS } from '../../cdk/constructs/duplicate-job-state-machine.ts';
import { DUPLICATE_STATE_MACHINE_ARN_ENV } from '../../cdk/constructs/scheduler-function.ts';
import { asList, referencedIds, roleStatements, type Statement } from './policy-walk.ts';
import { synthCairnStack, type SynthResult } from './synth-fixture.ts';

// The duplicate job's resources do not depend on the bundles: one synth without esbuild or the built-in validation (synth-fixture.ts).
let synth: SynthResult;
let resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;

beforeAll(() => {
  synth = synthCairnStack({ bundle: false, validate: false });
  resources = synth.template.toJSON().Resources;
});
afterAll(() => synth?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const actionsOf = (s: Statement) => asList(s.Action);

/** The one resource of a type whose logical id starts with prefix (log groups aside): its id and properties. */
function only(type: string, prefix: string): [string, Record<string, unknown>] {
  const matches = ofType(type).filter(([id]) => id.startsWith(prefix) && !id.includes('Logs'));
  if (matches.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${matches.length}`);
  return [matches[0]![0], matches[0]![1].Properties ?? {}];
}
const fn = (prefix: string) => only('AWS::Lambda::Function', prefix);
const roleOf = (prefix: string) => referencedIds(fn(prefix)[1].Role)[0]!;
const machine = () => only('AWS::StepFunctions::StateMachine', 'DuplicateJob');
const envOf = (prefix: string) => (fn(prefix)[1].Environment as { Variables: Record<string, unknown> }).Variables;

/** DynamoDB actions a role has on each table, by the table's name in aws/tables.ts. */
function tableActions(roleId: string): Partial<Record<TableName, string[]>> {
  const byId = new Map(tableNames.map((name) => [only('AWS::DynamoDB::Table', `Tables${name[0]!.toUpperCase()}${name.slice(1)}Table`)[0], name] as const));
  const found: Partial<Record<TableName, Set<string>>> = {};
  for (const s of roleStatements(resources, roleId).filter((st) => st.Effect === 'Allow')) {
    for (const id of referencedIds(s.Resource)) {
      const table = byId.get(id);
      if (table) for (const a of actionsOf(s).filter((x) => x.startsWith('dynamodb:'))) (found[table] ??= new Set()).add(a);
    }
  }
  return Object.fromEntries(Object.entries(found).map(([t, a]) => [t, [...a].sort()]));
}

describe('duplicate-job state machine', () => {
  it('is duplicate-job.asl.json, STANDARD, traced and logged like the verify job, every placeholder substituted', () => {
    const props = machine()[1];
    expect(props).toMatchObject({ StateMachineType: 'STANDARD', TracingConfiguration: { Enabled: true }, LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false } });
    const definition = props.DefinitionString as string;
    expect(definition).toBe(fs.readFileSync(path.join(REPO_ROOT, 'statemachines', 'duplicate-job.asl.json'), 'utf8'));
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    const used = new Set([...definition.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!));
    expect([...used].sort()).toEqual([...DUPLICATE_DEFINITION_SUBSTITUTIONS].sort());
    expect(Object.keys(substitutions).sort()).toEqual([...DUPLICATE_DEFINITION_SUBSTITUTIONS].sort());
    expect(referencedIds(substitutions.DuplicateFunctionArn)).toEqual([fn('DuplicateFunction')[0]]);
    expect(referencedIds(substitutions.JobsFunctionArn)).toEqual([fn('JobsFunction')[0]]);
    expect(referencedIds(substitutions.AgentDocumentName)[0]).toMatch(/^AgentDocument/);
  });

  it('may invoke exactly the duplicate and jobs functions and send the agent document, nothing else (no broker: it reserves nothing)', () => {
    const roleId = referencedIds(machine()[1].RoleArn)[0]!;
    const statements = roleStatements(resources, roleId).filter((s) => s.Effect === 'Allow');
    const invoke = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    const byJson = (values: unknown[]) => values.map((v) => JSON.stringify(v)).sort();
    expect(byJson(asList(invoke[0]!.Resource))).toEqual(byJson(['DuplicateFunction', 'JobsFunction'].map((prefix) => ({ 'Fn::GetAtt': [fn(prefix)[0], 'Arn'] }))));
    const send = statements.filter((s) => actionsOf(s).includes('ssm:SendCommand'));
    expect(send).toHaveLength(1);
    expect(JSON.stringify(send[0]!.Resource)).toMatch(/:document\/".*AgentDocument/);
    expect(statements.flatMap(actionsOf).filter((a) => !/^(lambda:InvokeFunction|ssm:SendCommand|logs:.*|xray:.*)$/.test(a))).toEqual([]);
  });

  it('has a function that reads the image and the units and writes the job and the image record, nothing in S3 or the media tables', () => {
    expect(tableActions(roleOf('DuplicateFunction'))).toEqual({
      jobs: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      catalog: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      config: ['dynamodb:GetItem'],
    });
    expect(roleStatements(resources, roleOf('DuplicateFunction')).flatMap(actionsOf).filter((a) => a.startsWith('s3:') || a.startsWith('states:'))).toEqual([]);
  });

  it('is started by the scheduler (StartExecution, DescribeExecution for the sweep), watched by the janitor\'s rule, and given to both by ARN', () => {
    const machineRef = JSON.stringify({ Ref: machine()[0] });
    const scheduler = roleStatements(resources, roleOf('SchedulerFunction')).filter((s) => s.Effect === 'Allow');
    const start = scheduler.find((s) => actionsOf(s).includes('states:StartExecution'))!;
    expect(asList(start.Resource).map((r) => JSON.stringify(r))).toContain(machineRef);
    const describe = scheduler.find((s) => actionsOf(s).includes('states:DescribeExecution'))!;
    expect(asList(describe.Resource).some((r) => JSON.stringify(r).includes(':execution:') && JSON.stringify(r).includes(machineRef))).toBe(true);
    for (const prefix of ['SchedulerFunction', 'JanitorFunction']) expect(envOf(prefix)[DUPLICATE_STATE_MACHINE_ARN_ENV], prefix).toEqual({ Ref: machine()[0] });
    const [, rule] = only('AWS::Events::Rule', 'JanitorExecutionEnded');
    expect(JSON.stringify((rule.EventPattern as { detail: { stateMachineArn: unknown[] } }).detail.stateMachineArn)).toContain(machineRef);
  });

  it('alarms on failed and timed-out executions and on the function\'s errors, and is a stack output', () => {
    const alarmsOn = (dimension: string, ref: unknown) => ofType('AWS::CloudWatch::Alarm').filter(([, a]) => JSON.stringify(a.Properties!.Dimensions).includes(JSON.stringify({ Name: dimension, Value: ref })));
    expect(alarmsOn('StateMachineArn', { Ref: machine()[0] }).map(([, a]) => a.Properties!.MetricName).sort()).toEqual(['ExecutionsFailed', 'ExecutionsTimedOut']);
    expect(alarmsOn('FunctionName', { Ref: fn('DuplicateFunction')[0] }).map(([, a]) => a.Properties!.MetricName)).toEqual(['Errors']);
    const outputs = synth.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(referencedIds(outputs.DuplicateJobStateMachineArn!.Value)).toEqual([machine()[0]]);
  });
});
