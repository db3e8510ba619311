import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { CairnTables } from './cairn-tables.ts';
import { newCairnFunction, type CairnFunctionSource } from './cairn-function.ts';

/** The environment variable naming the reports topic (lambdas/report.ts). */
export const REPORTS_TOPIC_ARN_ENV = 'REPORTS_TOPIC_ARN';

/** The pattern of Cairn's job-ended events (core/ports/job-events.ts): the report function looks at each. */
export const JOB_ENDED_PATTERN = { source: ['cairn'], detailType: ['Cairn Job State Change'], detail: { state: ['DONE'] } } as const;

/**
 * The filter policy of a subscription that takes reports only: every report
 * carries the message attribute `cairn-message=report`
 * (aws/sns-report-publisher.ts REPORT_MESSAGE_ATTRIBUTE); alarms carry none.
 */
export const REPORT_MESSAGE_FILTER = { 'cairn-message': sns.SubscriptionFilter.stringFilter({ allowlist: ['report'] }) };

/** The daily report's input: the 24 hours before it runs. */
export const DAILY_REPORT_INPUT = { since: '24h' } as const;

export interface ReportFunctionProps {
  readonly projectRoot: string;
  readonly tables: CairnTables;
  readonly imageBucket: s3.IBucket;
  /** The reports topic, and the key it is encrypted with. */
  readonly topic: sns.ITopic;
  readonly topicKey: kms.IKey;
  /** When the daily report runs (UTC). Default 06:00. */
  readonly dailyAt?: { hour: number; minute: number };
}

/**
 * The completion report (savegrp's, core/report/): the report Lambda
 * (`lambdas/report.ts`), invoked by
 * - the `JobEnded` rule on every job's end (Cairn's "Cairn Job State
 *   Change" events with `state: DONE`, on the default bus): it publishes the
 *   report of the run once the run's last job ended (lambdas/report-handler.ts);
 * - the `DailyReport` rule, once a day, with `{ "since": "24h" }`: the day's
 *   report whatever the runs did (a run whose end raced, a job running for
 *   days).
 * It reads the Jobs table (Query of the job items, newest first) and
 * publishes to the reports topic (`sns:Publish` on it; the topic being
 * encrypted, `kms:GenerateDataKey` and `kms:Decrypt` on its key). Nothing else.
 */
export class ReportFunction extends Construct {
  static readonly source = (projectRoot: string): CairnFunctionSource => ({ projectRoot, entry: 'lambdas/report.ts' });

  readonly function: NodejsFunction;
  readonly jobEnded: events.Rule;
  readonly daily: events.Rule;

  constructor(scope: Construct, id: string, props: ReportFunctionProps) {
    super(scope, id);
    this.function = newCairnFunction(this, 'Function', {
      source: ReportFunction.source(props.projectRoot),
      description: 'Cairn report: publishes the completion report of each run (and of each day) to the reports topic',
      tables: props.tables,
      imageBucketName: props.imageBucket.bucketName,
      // 5000 job records read and one Publish: seconds, with room for a slow table.
      timeout: Duration.seconds(60),
    });
    this.function.addEnvironment(REPORTS_TOPIC_ARN_ENV, props.topic.topicArn);
    // Exactly what lambdas/report.ts calls (test/iam checks it).
    props.tables.jobs.grant(this.function, 'dynamodb:Query');
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [props.topic.topicArn] }));
    this.function.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.topicKey.keyArn] }));

    // A report of a run is a convenience, not a job: two tries, and an event older than an hour is dropped (the daily report follows).
    const target = (input?: events.RuleTargetInput): targets.LambdaFunction => new targets.LambdaFunction(this.function, { retryAttempts: 2, maxEventAge: Duration.hours(1), ...(input ? { event: input } : {}) });
    // On the default bus, where the Lambdas publish job state changes (cdk/constructs/job-events-grant.ts).
    this.jobEnded = new events.Rule(this, 'JobEnded', {
      description: "Cairn: a job ended; the report function publishes the run's report when it was the run's last",
      eventPattern: { source: [...JOB_ENDED_PATTERN.source], detailType: [...JOB_ENDED_PATTERN.detailType], detail: { state: [...JOB_ENDED_PATTERN.detail.state] } },
      targets: [target()],
    });
    const at = props.dailyAt ?? { hour: 6, minute: 0 };
    this.daily = new events.Rule(this, 'DailyReport', {
      description: "Cairn: the day's completion report",
      schedule: events.Schedule.cron({ hour: String(at.hour), minute: String(at.minute) }),
      targets: [target(events.RuleTargetInput.fromObject(DAILY_REPORT_INPUT))],
    });
  }
}
