import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Metric, METRICS_NAMESPACE } from '#lambdas/metric-names.ts';
import { CairnStack, REPO_ROOT } from '../../cdk/cairn-stack.ts';
import { CairnMetric, METRICS_NAMESPACE as CDK_NAMESPACE } from '../../cdk/constructs/monitoring.ts';
import { allStatements, asList, referencedIds, roleStatements } from './policy-walk.ts';
import { synthCairnStack, testAppProps, type SynthResult } from './synth-fixture.ts';

// Alarms, dashboard and grants do not depend on the bundles: one synth without
// esbuild, and without the built-in validation (see synth-fixture.ts).
let synth: SynthResult;
let resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;

beforeAll(() => {
  synth = synthCairnStack({ bundle: false, validate: false });
  resources = synth.template.toJSON().Resources;
});
afterAll(() => synth?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const idOf = (type: string, prefix: string): string => {
  const ids = ofType(type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix) && !id.includes('Logs'));
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
};

/** Each alarm as namespace/metric, statistic and dimensions. */
function alarms() {
  return ofType('AWS::CloudWatch::Alarm').map(([id, alarm]) => {
    const p = alarm.Properties!;
    return {
      id,
      metric: `${p.Namespace as string}/${p.MetricName as string}`,
      statistic: p.Statistic,
      dimensions: Object.fromEntries(asList(p.Dimensions as { Name: string; Value: unknown }[] | undefined).map((d) => [d.Name, d.Value])),
      props: p,
    };
  });
}

describe('alarms', () => {
  it('watch failed and timed-out executions, each Lambda, the scheduler, stuck jobs and unpublished events, and nothing else', () => {
    const stateMachine = { Ref: idOf('AWS::StepFunctions::StateMachine', 'BackupJob') };
    const restoreMachine = { Ref: idOf('AWS::StepFunctions::StateMachine', 'RestoreJob') };
    const verifyMachine = { Ref: idOf('AWS::StepFunctions::StateMachine', 'VerifyJob') };
    const duplicateMachine = { Ref: idOf('AWS::StepFunctions::StateMachine', 'DuplicateJob') };
    const fn = (prefix: string) => ({ Ref: idOf('AWS::Lambda::Function', prefix) });
    // The group's name is a literal the CDK generates (the schedule names it the same way).
    const group = resources[idOf('AWS::Scheduler::ScheduleGroup', 'Scheduler')]!.Properties!.Name;
    const found = alarms().map(({ metric, statistic, dimensions }) => ({ metric, statistic, dimensions }));
    // Cairn's own metrics carry the service name the stack's Lambdas publish under: per stack, so two stacks never share an alarm's data.
    const service = (resources[idOf('AWS::Lambda::Function', 'SchedulerFunction')]!.Properties!.Environment as { Variables: Record<string, unknown> }).Variables.POWERTOOLS_SERVICE_NAME;
    expect(JSON.stringify(service)).toContain('AWS::StackId');
    const expected = [
      { metric: 'AWS/States/ExecutionsFailed', statistic: 'Sum', dimensions: { StateMachineArn: stateMachine } },
      { metric: 'AWS/States/ExecutionsTimedOut', statistic: 'Sum', dimensions: { StateMachineArn: stateMachine } },
      { metric: 'AWS/States/ExecutionsFailed', statistic: 'Sum', dimensions: { StateMachineArn: restoreMachine } },
      { metric: 'AWS/States/ExecutionsTimedOut', statistic: 'Sum', dimensions: { StateMachineArn: restoreMachine } },
      { metric: 'AWS/States/ExecutionsFailed', statistic: 'Sum', dimensions: { StateMachineArn: verifyMachine } },
      { metric: 'AWS/States/ExecutionsTimedOut', statistic: 'Sum', dimensions: { StateMachineArn: verifyMachine } },
      { metric: 'AWS/States/ExecutionsFailed', statistic: 'Sum', dimensions: { StateMachineArn: duplicateMachine } },
      { metric: 'AWS/States/ExecutionsTimedOut', statistic: 'Sum', dimensions: { StateMachineArn: duplicateMachine } },
      { metric: 'AWS/States/ExecutionsFailed', statistic: 'Sum', dimensions: { StateMachineArn: { Ref: idOf('AWS::StepFunctions::StateMachine', 'CatalogJob') } } },
      { metric: 'AWS/States/ExecutionsTimedOut', statistic: 'Sum', dimensions: { StateMachineArn: { Ref: idOf('AWS::StepFunctions::StateMachine', 'CatalogJob') } } },
      { metric: 'AWS/Lambda/Errors', statistic: 'Sum', dimensions: { FunctionName: fn('CatalogJobFunction') } },
      ...['JobsFunction', 'BrokerFunction', 'CatalogFunction', 'RestoreFunction', 'VerifyFunction', 'DuplicateFunction', 'SchedulerFunction', 'JanitorFunction', 'AgentGrantsFunction', 'ReportFunction'].map((prefix) => ({ metric: 'AWS/Lambda/Errors', statistic: 'Sum', dimensions: { FunctionName: fn(prefix) } })),
      { metric: 'Cairn/SchedulerTickFailed', statistic: 'Sum', dimensions: { service } },
      { metric: 'AWS/Scheduler/TargetErrorCount', statistic: 'Sum', dimensions: { ScheduleGroup: group } },
      { metric: 'AWS/Scheduler/InvocationDroppedCount', statistic: 'Sum', dimensions: { ScheduleGroup: group } },
      { metric: 'Cairn/JobsQueuedPastWindow', statistic: 'Maximum', dimensions: { service } },
      { metric: 'Cairn/JobEventsNotPublished', statistic: 'Sum', dimensions: { service } },
    ];
    const key = (a: { metric: string; dimensions: unknown }) => `${a.metric} ${JSON.stringify(a.dimensions)}`;
    expect(found.map(key).sort()).toEqual(expected.map(key).sort());
    for (const e of expected) expect(found.find((f) => key(f) === key(e))?.statistic, e.metric).toBe(e.statistic);
  });

  it('fire on the first datapoint of 1 or more in five minutes, treat missing data as fine, and notify the reports topic', () => {
    const topic = { Ref: idOf('AWS::SNS::Topic', 'Reports') };
    for (const { id, props } of alarms()) {
      expect(props, id).toMatchObject({
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic],
      });
      // No fixed physical name: a second stack in the account gets alarms of its own.
      expect(props.AlarmName, id).toBeUndefined();
    }
  });

  it('may publish to the encrypted reports topic: its key lets CloudWatch alarms of this account use it', () => {
    const keyId = referencedIds(resources[idOf('AWS::SNS::Topic', 'Reports')]!.Properties!.KmsMasterKeyId)[0]!;
    const forCloudWatch = allStatements(resources).filter(({ logicalId, statement }) => logicalId === keyId && JSON.stringify(statement.Principal).includes('cloudwatch.amazonaws.com'));
    expect(forCloudWatch).toHaveLength(1);
    const { statement } = forCloudWatch[0]!;
    expect(asList(statement.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(statement.Condition?.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(JSON.stringify(statement.Condition?.ArnLike)).toContain(':cloudwatch:');
    expect(JSON.stringify(statement.Condition?.ArnLike)).toContain(':alarm:*');
  });

  it('are mailed to nobody unless alarmEmail is given, then to that address', () => {
    expect(ofType('AWS::SNS::Subscription')).toEqual([]);
    const app = new App(testAppProps({ bundlingSkipped: true, validate: false }));
    const stack = new CairnStack(app, 'Mailed', { projectRoot: REPO_ROOT, alarmEmail: 'ops@example.com' });
    const mailed = Template.fromStack(stack);
    mailed.resourceCountIs('AWS::SNS::Subscription', 1);
    const topicId = Object.entries(mailed.findResources('AWS::SNS::Topic'))[0]![0];
    mailed.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topicId } });
  });

  it('use the metric names and namespace the Lambdas publish (lambdas/metric-names.ts)', () => {
    expect(CDK_NAMESPACE).toBe(METRICS_NAMESPACE);
    expect(CairnMetric).toEqual(Metric);
  });
});

describe('dashboard', () => {
  it('shows every alarm and the executions, job ends, Lambda errors, scheduler, stuck-job and event graphs', () => {
    const dashboards = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]![1].Properties!.DashboardBody);
    for (const title of ['Cairn alarms', 'backup-job executions', 'Jobs ended, by status class', 'Lambda errors', 'Scheduler', 'Jobs QUEUED past their window', 'Job events not published']) {
      expect(body, title).toContain(title);
    }
    for (const metric of [...Object.values(Metric), 'ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsSucceeded', 'TargetErrorCount', 'InvocationDroppedCount']) expect(body, metric).toContain(metric);
    for (const statusClass of ['success', 'partial', 'failed']) expect(body).toContain(`\\"StatusClass\\",\\"${statusClass}\\"`);
    // The alarm status widget names each alarm by its ARN.
    for (const { id } of alarms()) expect(body, id).toContain(id);
  });
});

describe('job events grant', () => {
  const roleOf = (prefix: string) => referencedIds(resources[idOf('AWS::Lambda::Function', prefix)]!.Properties!.Role)[0]!;
  const putEvents = (prefix: string) =>
    roleStatements(resources as never, roleOf(prefix)).filter((s) => s.Effect === 'Allow' && asList(s.Action).some((a) => a.startsWith('events:')));

  it('lets the Lambdas that change job states (jobs, broker, the sweep in the scheduler, the janitor) put events on the default bus only', () => {
    const defaultBus = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':event-bus/default']] };
    for (const prefix of ['JobsFunction', 'BrokerFunction', 'SchedulerFunction', 'JanitorFunction']) {
      const statements = putEvents(prefix);
      expect(statements.map((s) => [asList(s.Action), s.Resource]), prefix).toEqual([[['events:PutEvents'], defaultBus]]);
    }
  });

  it('gives the catalog and agent-grants Lambdas, which change no job state, no events action', () => {
    for (const prefix of ['CatalogFunction', 'AgentGrantsFunction']) expect(putEvents(prefix), prefix).toEqual([]);
  });
});
