import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AwsClients } from '#aws/clients.ts';
import { createTables } from '#aws/create-tables.ts';
import { DynamoJobStore } from '#aws/dynamo-job-store.ts';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { REPORT_MESSAGE_ATTRIBUTE, SnsReportPublisher } from '#aws/sns-report-publisher.ts';
import { FakeClock } from '#core/ports/clock.ts';
import { JOB_EVENT_SOURCE, JOB_STATE_CHANGE, jobStateChange } from '#core/ports/job-events.ts';
import { JobReport } from '#core/report/job-report.ts';
import type { Job } from '#core/model/job.ts';
import { createReportHandler } from '#lambdas/report-handler.ts';
import { NIGHT_END, nightJobs } from '../core/report/night.ts';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

/** What SNS POSTs to an http subscriber (a Notification), as far as this test reads it. */
interface Notification {
  Type: string;
  Subject?: string;
  Message: string;
}

/** The event EventBridge delivers to the report function for a job's change (core/ports/job-events.ts). */
const endEvent = (job: Job) => ({ version: '0', id: `e-${job.jobId}`, source: JOB_EVENT_SOURCE, 'detail-type': JOB_STATE_CHANGE, account: '123456789012', time: job.endedAt, region: 'us-east-1', resources: [], detail: jobStateChange(job, 'ACTIVE') });

describe.skipIf(skip)('the report Lambda on the emulator: job table in DynamoDB, report to an SNS topic with an http subscriber', () => {
  let clients: AwsClients;
  let jobs: DynamoJobStore;
  let server: Server;
  const received: Notification[] = [];
  let topicArn: string;
  const clock = new FakeClock(NIGHT_END);

  beforeAll(async () => {
    const endpoint = (emulator as { endpoint: string }).endpoint;
    clients = emulatorClients(endpoint);
    const tables = await createTables(clients.dynamodb, `report${Date.now()}`);
    jobs = new DynamoJobStore({ client: clients.documents, tableName: tables.jobs });
    // The night, less the job still running (the run must be over for a run report).
    for (const job of nightJobs().filter((j) => j.state === 'DONE')) await jobs.create(job);
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        received.push(JSON.parse(body) as Notification);
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    topicArn = (await clients.sns.send(new CreateTopicCommand({ Name: `cairn-reports-${Date.now()}` }))).TopicArn!;
    // With the reportEmail subscription's filter policy (cdk/constructs/report-function.ts): SNS delivers only messages carrying the report attribute.
    // (moto does not forward message attributes to http subscribers, so the filter is how this test sees the attribute.)
    await clients.sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'http',
        Endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sns`,
        Attributes: { FilterPolicy: JSON.stringify({ [REPORT_MESSAGE_ATTRIBUTE.name]: [REPORT_MESSAGE_ATTRIBUTE.value] }) },
      }),
    );
  });
  afterAll(() => {
    server?.close();
    clients?.destroy();
  });

  const handler = () => createReportHandler({ jobs, clock, publisher: new SnsReportPublisher(topicArn, clients.sns) });

  it("publishes the run's report when its last job's end arrives, failures first, to the topic: JSON for http subscribers, the summary as subject, through the reports-only filter policy", async () => {
    const last = nightJobs().find((j) => j.jobId === 7)!;
    const outcome = await handler()(endEvent(last));
    expect(outcome).toMatchObject({ action: 'published', period: { from: '2026-12-02T22:00:00.000Z', to: '2026-12-03T02:00:00.000Z' }, totals: { failed: 3, partial: 1, succeeded: 4, running: 0 } });
    expect(received).toHaveLength(1);
    const [notification] = received;
    expect(notification!.Type).toBe('Notification');
    expect(notification!.Subject).toBe('Cairn report: 3 failed, 1 partial, 4 succeeded');
    const report = JobReport.parse(JSON.parse(notification!.Message));
    expect(report.jobs.map((l) => [l.jobId, l.outcome, l.statusCode])).toEqual([
      [6, 'failed', 13],
      [5, 'failed', 219],
      [7, 'failed', 196],
      [4, 'partial', 1],
      [3, 'success', 0],
      [2, 'success', 0],
      [8, 'success', 0],
      [12, 'success', 0],
    ]);
    expect(report.jobs.find((l) => l.jobId === 8)!.streams!.map((s) => s.jobId)).toEqual([9, 10]);
    // The night before is another run: not in this report.
    expect(report.jobs.some((l) => l.jobId === 1)).toBe(false);
  });

  it('publishes nothing for the end of a job that did not end the run, nor while a job still runs', async () => {
    received.length = 0;
    expect(await handler()(endEvent(nightJobs().find((j) => j.jobId === 5)!))).toEqual({ action: 'not-last', jobId: 5, lastJobId: 7 });
    const running = nightJobs().find((j) => j.state === 'ACTIVE')!;
    await jobs.create(running);
    try {
      expect(await handler()(endEvent(nightJobs().find((j) => j.jobId === 7)!))).toEqual({ action: 'waiting', jobId: 7, running: 1 });
    } finally {
      await jobs.update(running.jobId, (j) => ({ ...j, state: 'DONE', statusCode: 150, endedAt: '2026-12-03T05:30:00Z', updatedAt: '2026-12-03T05:30:00Z' }));
    }
    expect(received).toEqual([]);
  });

  it("publishes the daily report of the 24 hours before, and refuses a bad input naming it", async () => {
    received.length = 0;
    const outcome = await handler()({ since: '24h' });
    expect(outcome).toMatchObject({ action: 'published', period: { from: '2026-12-02T06:00:00.000Z', to: '2026-12-03T06:00:00.000Z' } });
    expect(received).toHaveLength(1);
    const report = JobReport.parse(JSON.parse(received[0]!.Message));
    // The job ended by the administrator at 05:30 (150) is the last failure of the day.
    expect(report.jobs.slice(0, 4).map((l) => [l.jobId, l.statusCode])).toEqual([
      [6, 13],
      [5, 219],
      [7, 196],
      [11, 150],
    ]);
    await expect(handler()({ since: 'yesterday' })).rejects.toThrow(/invalid report period/);
    await expect(handler()({ source: 'cairn', 'detail-type': JOB_STATE_CHANGE, detail: { jobId: 3, state: 'ACTIVE' } })).rejects.toThrow(/report input/);
  });

  it('fails, naming SNS\'s answer, when the topic does not exist (EventBridge then retries the invocation)', async () => {
    const gone = createReportHandler({ jobs, clock, publisher: new SnsReportPublisher(`${topicArn}-gone`, clients.sns) });
    await expect(gone({ since: '24h' })).rejects.toThrow(/SNS Publish to .*-gone failed: .*(NotFound|not found|does not exist)/i);
  });
});
