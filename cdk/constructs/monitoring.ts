import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { metricsServiceName } from '../stack-settings.ts';

/**
 * The metrics the Lambdas publish (lambdas/metric-names.ts, which the CDK app
 * may not import): same names, checked equal by test/cdk/monitoring.test.ts.
 */
export const METRICS_NAMESPACE = 'Cairn';
export const CairnMetric = {
  JobsEnded: 'JobsEnded',
  JobEventsNotPublished: 'JobEventsNotPublished',
  SchedulerTickFailed: 'SchedulerTickFailed',
  JobsStartedByTick: 'JobsStartedByTick',
  JobsQueuedPastWindow: 'JobsQueuedPastWindow',
} as const;

/** The period every alarm looks at: a failure shows within five minutes, and one is enough. */
const ALARM_PERIOD = Duration.minutes(5);

export interface MonitoringProps {
  /** The backup-job state machine: failed and timed-out executions. */
  readonly stateMachine: sfn.IStateMachine;
  /** The restore-job state machine (tape restores): its failed and timed-out executions alarm too. */
  readonly restoreStateMachine?: sfn.IStateMachine;
  /** The verify-job state machine: a verify that finds a corrupt image (2001) fails its execution, so its failures alarm too. */
  readonly verifyStateMachine?: sfn.IStateMachine;
  /** The duplicate-job state machine: a policy copy that failed (a corrupt source, 2001, say) leaves the image with fewer copies than its policy wants. */
  readonly duplicateStateMachine?: sfn.IStateMachine;
  /** The catalog-job state machine: a scheduled catalog backup or check that failed (status above 1) or timed out. */
  readonly catalogJobStateMachine?: sfn.IStateMachine;
  /** Every Cairn Lambda by its short name (jobs, broker, catalog, restore, verify, scheduler, janitor, agentGrants, report): one Errors alarm each. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** The scheduler tick's schedule group: Scheduler's target errors and dropped invocations. */
  readonly scheduleGroup: scheduler.IScheduleGroup;
  /** Where every alarm notifies (the reports topic). Its key, if any, is opened to CloudWatch alarms of this account. */
  readonly topic: sns.ITopic;
  /** Subscribes this address to the topic (the recipient confirms by mail). Default: no subscription. */
  readonly alarmEmail?: string;
  /** The Powertools `service` dimension of Cairn's metrics. Default: the stack's (metricsServiceName), as its Lambdas set it. */
  readonly serviceName?: string;
}

/**
 * Alarms and a dashboard for the cloud runtime. Every alarm notifies the
 * reports topic when it goes into ALARM; a missing datapoint is not a
 * breach (no executions, no errors: nothing to report), which is why the
 * scheduler's own failures are watched twice, as the function's Errors and
 * as its SchedulerTickFailed metric, and the schedule's deliveries as
 * Scheduler's target errors and dropped invocations.
 */
export class Monitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const service = props.serviceName ?? metricsServiceName(this);
    const cairnMetric = (metricName: string, statistic: string, dimensions: Record<string, string> = {}) =>
      new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, statistic, period: ALARM_PERIOD, dimensionsMap: { service, ...dimensions } });
    const notify = new actions.SnsAction(props.topic);
    const alarm = (alarmId: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Cairn: ${description}`,
      });
      created.addAlarmAction(notify);
      this.alarms.push(created);
      return created;
    };

    const executions = {
      failed: props.stateMachine.metricFailed({ period: ALARM_PERIOD, statistic: 'Sum' }),
      timedOut: props.stateMachine.metricTimedOut({ period: ALARM_PERIOD, statistic: 'Sum' }),
      aborted: props.stateMachine.metricAborted({ period: ALARM_PERIOD, statistic: 'Sum' }),
      succeeded: props.stateMachine.metricSucceeded({ period: ALARM_PERIOD, statistic: 'Sum' }),
      started: props.stateMachine.metricStarted({ period: ALARM_PERIOD, statistic: 'Sum' }),
    };
    alarm('ExecutionsFailed', executions.failed, 'a backup-job execution failed (a job ended with a failure status, or the workflow itself failed)');
    alarm('ExecutionsTimedOut', executions.timedOut, 'a backup-job execution timed out (its job is ended by the janitor)');
    if (props.restoreStateMachine) {
      // The janitor ends the job of such an execution and frees its drive (as for backups); the alarms still tell the operator.
      alarm('RestoreExecutionsFailed', props.restoreStateMachine.metricFailed({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a restore-job execution failed (a tape restore ended with a failure status, or the workflow itself failed)');
      alarm('RestoreExecutionsTimedOut', props.restoreStateMachine.metricTimedOut({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a restore-job execution timed out (its job is ended by the janitor)');
    }
    if (props.verifyStateMachine) {
      // A corrupt image found by a verify (scheduled or not) is news nobody should learn on the day of a restore.
      alarm('VerifyExecutionsFailed', props.verifyStateMachine.metricFailed({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a verify-job execution failed (an image is corrupt, status 2001, or could not be read)');
      alarm('VerifyExecutionsTimedOut', props.verifyStateMachine.metricTimedOut({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a verify-job execution timed out (its job is ended by the janitor)');
    }
    if (props.duplicateStateMachine) {
      // The scheduler tries a failed copy again each tick; the alarm says the image still lacks a copy its policy declares.
      alarm('DuplicateExecutionsFailed', props.duplicateStateMachine.metricFailed({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a duplicate-job execution failed (a policy copy was not made: a corrupt source, status 2001, an unreachable unit, or a refused request)');
      alarm('DuplicateExecutionsTimedOut', props.duplicateStateMachine.metricTimedOut({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a duplicate-job execution timed out (its job is ended by the janitor)');
    }

    if (props.catalogJobStateMachine) {
      // A catalog backup that did not happen is a disaster recovery that cannot: said the day it fails.
      alarm('CatalogJobExecutionsFailed', props.catalogJobStateMachine.metricFailed({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a catalog-job execution failed (a scheduled catalog backup or check ended with a status above 1, or could not run)');
      alarm('CatalogJobExecutionsTimedOut', props.catalogJobStateMachine.metricTimedOut({ period: ALARM_PERIOD, statistic: 'Sum' }), 'a catalog-job execution timed out (its job is ended by the janitor)');
    }

    const errors = Object.entries(props.functions).map(([name, fn]) => {
      const metric = fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' });
      alarm(`${capitalised(name)}FunctionErrors`, metric, `the ${name} Lambda failed (a Task state's Status<code> error counts too)`);
      // A label would turn the alarm's metric into a metric-math form: only the graph gets it.
      return metric.with({ label: name });
    });

    const tickFailed = cairnMetric(CairnMetric.SchedulerTickFailed, 'Sum');
    alarm('SchedulerTickFailed', tickFailed, 'a scheduler tick could not start every due job, or could not read the stores');
    const targetErrors = props.scheduleGroup.metricTargetErrors({ period: ALARM_PERIOD, statistic: 'Sum' });
    alarm('SchedulerTargetErrors', targetErrors, 'EventBridge Scheduler could not invoke the scheduler tick');
    const dropped = props.scheduleGroup.metricDropped({ period: ALARM_PERIOD, statistic: 'Sum' });
    alarm('SchedulerInvocationsDropped', dropped, 'EventBridge Scheduler dropped a scheduler tick after its retries');

    const stuck = cairnMetric(CairnMetric.JobsQueuedPastWindow, 'Maximum');
    alarm('JobsQueuedPastWindow', stuck, 'a job is still QUEUED more than five minutes after its window closed (nothing is running it)');
    const notPublished = cairnMetric(CairnMetric.JobEventsNotPublished, 'Sum');
    alarm('JobEventsNotPublished', notPublished, 'a job state change could not be published to EventBridge (the job went on; subscribers missed it)');

    // CloudWatch alarms publish to an encrypted topic only if its key lets them.
    const key = props.topic.masterKey;
    if (key) {
      const stack = Stack.of(this);
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublishToTheReportsTopic',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
          },
        }),
      );
    }
    if (props.alarmEmail !== undefined && props.alarmEmail !== '') props.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const jobsEnded = (statusClass: string) => cairnMetric(CairnMetric.JobsEnded, 'Sum', { StatusClass: statusClass }).with({ label: statusClass });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
      widgets: [
        [new cloudwatch.AlarmStatusWidget({ title: 'Cairn alarms', alarms: this.alarms, width: 24 })],
        [
          new cloudwatch.GraphWidget({ title: 'backup-job executions', left: [executions.started, executions.succeeded, executions.failed, executions.timedOut, executions.aborted], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Jobs ended, by status class', left: [jobsEnded('success'), jobsEnded('partial'), jobsEnded('failed')], stacked: true, width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Lambda errors', left: errors, width: 12 }),
          new cloudwatch.GraphWidget({
            title: 'Scheduler',
            left: [cairnMetric(CairnMetric.JobsStartedByTick, 'Sum').with({ label: 'jobs started' }), tickFailed.with({ label: 'ticks failed' }), targetErrors.with({ label: 'target errors' }), dropped.with({ label: 'dropped' })],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Jobs QUEUED past their window', left: [stuck], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Job events not published', left: [notPublished], width: 12 }),
        ],
      ],
    });
  }
}

function capitalised(name: string): string {
  return `${name[0]!.toUpperCase()}${name.slice(1)}`;
}
