import { describe, expect, it } from 'vitest';
import { arnOf, type Template } from './policy-check.ts';
import { functionRuntimeCalls, reachableTasks, scheduleCalls, stateMachineCalls, type AslMachine } from './service-calls.ts';

const names = { tables: { config: 'c', jobs: 'j', catalog: 'k', media: 'm' }, bucket: 'b', stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:sm' };
const task = (Resource: string, rest: Record<string, unknown> = {}) => ({ Type: 'Task', Resource, ...rest });

/** A template with one state machine running `definition`, its placeholders naming two functions and a document. */
function templateFor(definition: unknown, extra: Template['Resources'] = {}): { template: Template; text: string } {
  const text = JSON.stringify(definition);
  const template: Template = {
    Resources: {
      FnA: { Type: 'AWS::Lambda::Function' },
      FnB: { Type: 'AWS::Lambda::Function' },
      Doc: { Type: 'AWS::SSM::Document', Properties: { Name: 'Cairn-Doc' } },
      BackupJobStateMachineRoleX: { Type: 'AWS::IAM::Role' },
      Machine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          DefinitionString: text,
          RoleArn: { 'Fn::GetAtt': ['BackupJobStateMachineRoleX', 'Arn'] },
          DefinitionSubstitutions: { A: { 'Fn::GetAtt': ['FnA', 'Arn'] }, B: { 'Fn::GetAtt': ['FnB', 'Arn'] }, Doc: { Ref: 'Doc' } },
        },
      },
      ...extra,
    },
  };
  return { template, text };
}
const callsOf = (definition: unknown) => {
  const { template, text } = templateFor(definition);
  return stateMachineCalls(template, names, text).map((c) => `${c.action} ${arnOf(c.resource)} (${c.operation})`);
};

describe('calls derived from an ASL definition', () => {
  it('finds Task states inside Parallel branches and Map processors, and those reached only through a Catch', () => {
    const machine: AslMachine = {
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Parallel',
          Branches: [{ StartAt: 'One', States: { One: task('${A}', { End: true }) } }],
          Catch: [{ Next: 'OnError' }],
          Next: 'Each',
        } as never,
        Each: { Type: 'Map', ItemProcessor: { StartAt: 'Item', States: { Item: task('${B}', { End: true }) } }, End: true } as never,
        OnError: task('arn:aws:states:::lambda:invoke', { Parameters: { FunctionName: '${B}' }, End: true }) as never,
        Orphan: task('${A}', { End: true }) as never,
      },
    };
    expect(reachableTasks(machine).map((t) => t.path)).toEqual(['Fan/0/One', 'Each/Item', 'OnError']);
    expect(callsOf(machine)).toEqual([
      'lambda:InvokeFunction arn:aws:lambda:us-east-1:123456789012:function:FnA (Task Fan/0/One)',
      'lambda:InvokeFunction arn:aws:lambda:us-east-1:123456789012:function:FnB (Task Each/Item)',
      'lambda:InvokeFunction arn:aws:lambda:us-east-1:123456789012:function:FnB (Task OnError)',
    ]);
  });

  it('sends the command to the document and the managed instances, run-time or fixed', () => {
    const send = (parameters: Record<string, unknown>) => ({
      StartAt: 'S',
      States: { S: task('arn:aws:states:::aws-sdk:ssm:sendCommand.waitForTaskToken', { Parameters: { DocumentName: '${Doc}', ...parameters }, End: true }) },
    });
    expect(callsOf(send({ 'InstanceIds.$': '$.ids' }))).toEqual([
      'ssm:SendCommand arn:aws:ssm:us-east-1:123456789012:document/Cairn-Doc (Task S)',
      'ssm:SendCommand arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-* (Task S)',
    ]);
    expect(callsOf(send({ InstanceIds: ['i-0abc'] }))[1]).toBe('ssm:SendCommand arn:aws:ec2:us-east-1:123456789012:instance/i-0abc (Task S)');
  });

  it('derives an integration whose ARN the stack builds in its own partition (a whole-Resource placeholder)', () => {
    const definition = { StartAt: 'S', States: { S: task('${Send}', { Parameters: { DocumentName: '${Doc}', 'InstanceIds.$': '$.ids' }, End: true }) } };
    const { template, text } = templateFor(definition);
    const substitutions = template.Resources.Machine!.Properties!.DefinitionSubstitutions as Record<string, unknown>;
    substitutions.Send = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:::aws-sdk:ssm:sendCommand.waitForTaskToken']] };
    expect(stateMachineCalls(template, names, text).map((c) => c.action)).toEqual(['ssm:SendCommand', 'ssm:SendCommand']);
  });

  it('refuses what it cannot derive instead of passing it', () => {
    const one = (state: unknown) => ({ StartAt: 'S', States: { S: state } });
    expect(() => callsOf(one(task('arn:aws:states:::aws-sdk:dynamodb:putItem', { End: true })))).toThrow(/no IAM derivation for Task Resource/);
    expect(() => callsOf(one(task('arn:aws:states:::lambda:invoke', { Parameters: { 'FunctionName.$': '$.fn' }, End: true })))).toThrow(/FunctionName is not a fixed string/);
    expect(() => callsOf(one(task('${Missing}', { End: true })))).toThrow(/has no DefinitionSubstitution/);
    expect(() => callsOf(one(task('${A}', { Next: 'Nowhere' })))).toThrow(/transition to Nowhere/);
    const { template } = templateFor(one(task('${A}', { End: true })));
    expect(() => stateMachineCalls(template, names, '{"StartAt":"Other","States":{}}')).toThrow(/does not deploy the ASL file/);
  });

  it('adds the log delivery and X-Ray calls only when logging and tracing are on', () => {
    const definition = { StartAt: 'S', States: { S: task('${A}', { End: true }) } };
    const { template, text } = templateFor(definition);
    const props = template.Resources.Machine!.Properties!;
    expect(stateMachineCalls(template, names, text)).toHaveLength(1);
    props.LoggingConfiguration = { Level: 'ALL', Destinations: [{}] };
    props.TracingConfiguration = { Enabled: true };
    const actions = stateMachineCalls(template, names, text).map((c) => c.action);
    expect(actions.filter((a) => a.startsWith('logs:'))).toHaveLength(8);
    expect(actions.filter((a) => a.startsWith('xray:'))).toEqual(['xray:GetSamplingRules', 'xray:GetSamplingTargets', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });
});

describe('calls derived from a schedule', () => {
  const schedule = (target: unknown, role = 'SchedulerScheduleRoleX') => ({
    Tick: { Type: 'AWS::Scheduler::Schedule', Properties: { Target: { Arn: target, RoleArn: { 'Fn::GetAtt': [role, 'Arn'] } } } },
  });
  it('invokes its Lambda target with the schedule role, and refuses another target or role', () => {
    const { template } = templateFor({}, schedule({ 'Fn::GetAtt': ['FnA', 'Arn'] }));
    expect(scheduleCalls(template, names).map((c) => [c.action, arnOf(c.resource)])).toEqual([['lambda:InvokeFunction', 'arn:aws:lambda:us-east-1:123456789012:function:FnA']]);
    expect(() => scheduleCalls(templateFor({}, schedule('arn:aws:scheduler:::aws-sdk:sqs:sendMessage')).template, names)).toThrow(/no IAM derivation for target/);
    expect(() => scheduleCalls(templateFor({}, schedule({ 'Fn::GetAtt': ['FnA', 'Arn'] }, 'OtherRole')).template, names)).toThrow(/not the SchedulerScheduleRole role/);
  });
});

describe('calls derived from a function\'s configuration', () => {
  const fn = (properties: Record<string, unknown>) => ({
    Logs: { Type: 'AWS::Logs::LogGroup' },
    Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['JobsFunctionServiceRoleX', 'Arn'] }, ...properties } },
  });
  it('writes to the log group of its LoggingConfig, and sends X-Ray data only with active tracing', () => {
    const logged = { Resources: fn({ LoggingConfig: { LogGroup: { Ref: 'Logs' } } }) } as Template;
    expect(functionRuntimeCalls(logged, names, 'JobsFunctionServiceRole').map((c) => `${c.action} ${arnOf(c.resource)}`)).toEqual([
      'logs:CreateLogStream arn:aws:logs:us-east-1:123456789012:log-group:Logs:log-stream:runtime',
      'logs:PutLogEvents arn:aws:logs:us-east-1:123456789012:log-group:Logs:log-stream:runtime',
    ]);
    const traced = { Resources: fn({ LoggingConfig: { LogGroup: { Ref: 'Logs' } }, TracingConfig: { Mode: 'Active' } }) } as Template;
    expect(functionRuntimeCalls(traced, names, 'JobsFunctionServiceRole').map((c) => c.action).slice(2)).toEqual(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);
  });

  it('refuses a function that would log to a group of the runtime\'s making, and a role no function runs with', () => {
    expect(() => functionRuntimeCalls({ Resources: fn({}) } as Template, names, 'JobsFunctionServiceRole')).toThrow(/no LoggingConfig.LogGroup/);
    expect(() => functionRuntimeCalls({ Resources: fn({ LoggingConfig: { LogGroup: { Ref: 'Logs' } } }) } as Template, names, 'OtherRole')).toThrow(/no function runs with/);
  });
});
