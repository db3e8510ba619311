import { afterAll, describe, expect, it } from 'vitest';
import { REPORT_MESSAGE_ATTRIBUTE } from '#aws/sns-report-publisher.ts';
import { JOB_EVENT_SOURCE, JOB_STATE_CHANGE, jobStateChange } from '#core/ports/job-events.ts';
import { DAILY_REPORT_INPUT, JOB_ENDED_PATTERN, REPORTS_TOPIC_ARN_ENV } from '../../cdk/constructs/report-function.ts';
import { stackPropsFromContext } from '../../cdk/context.ts';
import { nightJobs } from '../core/report/night.ts';
import { referencedIds, roleStatements, type Statement } from './policy-walk.ts';
import { synthCairnStack } from './synth-fixture.ts';

// One synth for the file, without bundling (the bundle is cairn-stack.test.ts's concern); a report address given.
// Without the built-in validation: deployability.test.ts validates a stack with both addresses (CairnA), and its
// engine's start is ~10 s of CPU in a worker that has not loaded it (this file alone: 14.8 s of CPU, 6.8 s without).
const synth = synthCairnStack({ bundle: false, validate: false, props: { reportEmail: 'reports@example.com', alarmEmail: 'ops@example.com' } });
afterAll(() => synth.cleanup());
const resources = synth.template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const one = (type: string, prefix: string): [string, Record<string, unknown>] => {
  const found = ofType(type).filter(([id]) => id.startsWith(prefix));
  expect(found.map(([id]) => id), `${type} ${prefix}`).toHaveLength(1);
  return [found[0]![0], found[0]![1].Properties ?? {}];
};
const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : s.Action === undefined ? [] : [s.Action]);

const [functionId, fn] = one('AWS::Lambda::Function', 'ReportFunction');
const [topicId, topic] = one('AWS::SNS::Topic', 'Reports');
const [keyId] = one('AWS::KMS::Key', 'ReportsKey');
const [jobsTableId] = one('AWS::DynamoDB::Table', 'TablesJobs');

describe('the reports topic', () => {
  it('is encrypted with its own rotating key and refuses publishes without TLS', () => {
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(one('AWS::KMS::Key', 'ReportsKey')[1].EnableKeyRotation).toBe(true);
    const [, policy] = one('AWS::SNS::TopicPolicy', 'Reports');
    expect(JSON.stringify(policy.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });

  it('mails reports only to reportEmail (a filter policy on the attribute every report carries), reports and alarms to alarmEmail', () => {
    const subscriptions = ofType('AWS::SNS::Subscription').map(([, s]) => s.Properties!);
    expect(subscriptions).toEqual(
      expect.arrayContaining([
        { Protocol: 'email', Endpoint: 'reports@example.com', TopicArn: { Ref: topicId }, FilterPolicy: { [REPORT_MESSAGE_ATTRIBUTE.name]: [REPORT_MESSAGE_ATTRIBUTE.value] } },
        { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topicId } },
      ]),
    );
    expect(subscriptions).toHaveLength(2);
  });

  it('takes reportEmail from the context, and refuses one that is not an address', () => {
    expect(stackPropsFromContext((key) => (key === 'reportEmail' ? 'night@example.com' : undefined)).reportEmail).toBe('night@example.com');
    expect(() => synthCairnStack({ bundle: false, props: { reportEmail: 'night' } })).toThrow(/reportEmail must be an email address/);
  });
});

describe('the report function', () => {
  it('runs lambdas/report.ts with the topic ARN in its environment', () => {
    expect((fn.Environment as { Variables: Record<string, unknown> }).Variables[REPORTS_TOPIC_ARN_ENV]).toEqual({ Ref: topicId });
    expect(fn.Timeout).toBe(60);
  });

  it("may read the job table, publish to the reports topic with its key, and nothing else (logs and X-Ray aside)", () => {
    const roleId = referencedIds(fn.Role)[0]!;
    const statements = roleStatements(resources as never, roleId).filter((s) => s.Effect === 'Allow');
    const data = statements.filter((s) => !actionsOf(s).every((a) => /^(logs|xray):/.test(a)));
    expect(data.map((s) => [actionsOf(s), referencedIds(s.Resource)])).toEqual([
      [['dynamodb:Query'], [jobsTableId]],
      [['sns:Publish'], [topicId]],
      [['kms:Decrypt', 'kms:GenerateDataKey'], [keyId]],
    ]);
  });

  it('is invoked on every job end: the rule matches the events Cairn publishes for a DONE job on the default bus, and no other state', () => {
    const [ruleId, rule] = one('AWS::Events::Rule', 'ReportJobEnded');
    expect(rule.EventBusName).toBeUndefined();
    expect(rule.EventPattern).toEqual({ source: [JOB_EVENT_SOURCE], 'detail-type': [JOB_STATE_CHANGE], detail: { state: ['DONE'] } });
    expect(JOB_ENDED_PATTERN.source).toEqual([JOB_EVENT_SOURCE]);
    // The pattern against what PublishingJobStore sends (core/ports/job-events.ts), by EventBridge's rule: every listed key's value is among the allowed.
    const matches = (state: string): boolean => (rule.EventPattern as { detail: { state: string[] } }).detail.state.includes(state);
    const [ended, running] = [nightJobs().find((j) => j.state === 'DONE')!, nightJobs().find((j) => j.state === 'ACTIVE')!];
    expect(matches(jobStateChange(ended, 'ACTIVE').state)).toBe(true);
    expect(matches(jobStateChange(running, 'QUEUED').state)).toBe(false);
    const targets = rule.Targets as { Arn: unknown; RetryPolicy?: unknown; Input?: unknown }[];
    expect(targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } })]);
    expect(targets[0]!.Input).toBeUndefined();
    expect(ruleId).toBeDefined();
  });

  it("is invoked once a day for the day's report (06:00 UTC, the 24 hours before)", () => {
    const [, rule] = one('AWS::Events::Rule', 'ReportDailyReport');
    expect(rule.ScheduleExpression).toBe('cron(0 6 * * ? *)');
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] }, Input: JSON.stringify(DAILY_REPORT_INPUT) })]);
  });

  it('may be invoked by those two rules only', () => {
    const rules = ofType('AWS::Events::Rule').filter(([id]) => id.startsWith('Report')).map(([id]) => id).sort();
    const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(p.Properties?.FunctionName).includes(functionId));
    expect(permissions.map(([, p]) => [p.Properties!.Principal, referencedIds(p.Properties!.SourceArn)[0]]).sort()).toEqual(rules.map((id) => ['events.amazonaws.com', id]));
  });

  it('is a stack output', () => {
    expect(synth.template.toJSON().Outputs.ReportFunctionName.Value).toEqual({ Ref: functionId });
  });
});
