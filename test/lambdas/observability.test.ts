import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryStores, withLocalDisk, type MemoryStores } from '#test/memory/memory-stores.ts';
import { createAwsClients } from '#aws/clients.ts';
import { weekdays } from '#core/model/policy.ts';
import { createJobsHandler } from '#lambdas/jobs-handler.ts';
import type { HandlerObservability } from '#lambdas/handler-kit.ts';
import { Metric } from '#lambdas/metric-names.ts';
import { lambdaObservability, observedLambda } from '#lambdas/observability.ts';
import { createSchedulerHandler } from '#lambdas/scheduler-handler.ts';
import { MemoryExecutionStarter } from '../memory/memory-execution-starter.ts';
import { sampleJob, samplePolicy } from '../contracts/fixtures.ts';

/** A HandlerObservability that keeps what it is told, in order. */
function recording() {
  const keys: Record<string, unknown>[] = [];
  const logs: { level: string; message: string; data?: Record<string, unknown> }[] = [];
  const metrics: { metric: string; value?: number; dimensions?: Record<string, string> }[] = [];
  const observability: HandlerObservability = {
    middlewares: [],
    appendKeys: (k) => keys.push(k),
    info: (message, data) => logs.push({ level: 'info', message, data }),
    error: (message, data) => logs.push({ level: 'error', message, data }),
    count: (metric, value, dimensions) => metrics.push({ metric, value, dimensions }),
  };
  return { observability, keys, logs, metrics };
}

describe('task handlers with observability', () => {
  let rt: MemoryStores;
  beforeEach(async () => {
    rt = await withLocalDisk(memoryStores());
  });

  it('log each invocation with the job it concerns: the queued request names the execution, the result the job id', async () => {
    const { observability, keys, logs } = recording();
    const jobs = createJobsHandler(rt, observability);

    const ref = (await jobs({ action: 'queue', request: { client: 'c1', selections: ['/data'], executionName: 'manual.c1.1' } })) as { jobId: number };
    await jobs({ action: 'finish', jobId: ref.jobId, outcome: { statusCode: 0 } });

    expect(keys).toEqual([{ executionName: 'manual.c1.1' }, { jobId: ref.jobId }, { jobId: ref.jobId }, { jobId: ref.jobId }]);
    expect(logs).toEqual([
      { level: 'info', message: 'jobs queue', data: undefined },
      { level: 'info', message: 'jobs finish', data: undefined },
    ]);
  });

  it('log a failure with its status code and details, and still fail as Status<code> for the workflow', async () => {
    const { observability, logs } = recording();
    const jobs = createJobsHandler(rt, observability);

    const error = await jobs({ action: 'finish', jobId: 'x', outcome: {} }).then(() => undefined, (e: unknown) => e as Error);

    expect(error?.name).toBe('Status20');
    expect(logs).toEqual([{ level: 'error', message: 'jobs finish failed', data: { statusCode: 20, error: expect.stringMatching(/jobId/), details: [expect.stringMatching(/^jobId: /)] } }]);
  });
});

describe('the scheduler tick with observability', () => {
  const NOW = '2026-11-24T22:30:00.000Z';
  let rt: MemoryStores;
  let starter: MemoryExecutionStarter;
  beforeEach(async () => {
    rt = await withLocalDisk(memoryStores(NOW));
    await rt.config.putPolicy(
      samplePolicy('nightly', {
        storageUnit: 'local-disk',
        schedules: [{ name: 'daily', type: 'full', frequency: 86_400, windows: [{ days: [...weekdays], start: '20:00', duration: 8 * 3600 }], retention: { days: 14 } }],
      }),
    );
    starter = new MemoryExecutionStarter();
  });

  it('counts the executions it started, no failure, and the recent jobs still QUEUED past their window', async () => {
    // Yesterday's job, its window closed at 04:00 this morning, still QUEUED; and one whose window is open.
    await rt.jobs.create(sampleJob(1, { state: 'QUEUED', policy: 'other', windowEnd: '2026-11-24T04:00:00.000Z' }));
    await rt.jobs.create(sampleJob(2, { state: 'QUEUED', policy: 'other', windowEnd: '2026-11-25T04:00:00.000Z' }));
    const { observability, metrics } = recording();
    const tick = createSchedulerHandler({ ...rt, starter, observability });

    const result = await tick({});

    expect(result.started).toHaveLength(2);
    expect(metrics).toEqual([
      { metric: Metric.JobsQueuedPastWindow, value: 1, dimensions: undefined },
      { metric: Metric.JobsStartedByTick, value: 2, dimensions: undefined },
      { metric: Metric.SchedulerTickFailed, value: 0, dimensions: undefined },
    ]);
  });

  it('counts a failed tick as 1 and still fails it', async () => {
    starter.executions.failing.add(`nightly.client2.daily.${Date.parse('2026-11-24T20:00:00.000Z') / 1000}`);
    const { observability, metrics } = recording();
    const tick = createSchedulerHandler({ ...rt, starter, observability });

    await expect(tick({})).rejects.toMatchObject({ name: 'Status2000' });

    expect(metrics.filter((m) => m.metric === Metric.SchedulerTickFailed)).toEqual([{ metric: Metric.SchedulerTickFailed, value: 1, dimensions: undefined }]);
  });
});

describe('Powertools in the Lambdas (lambdas/observability.ts)', () => {
  let written: string[];
  beforeEach(() => {
    written = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });
  const records = () => written.flatMap((text) => text.split('\n')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

  it('write JSON log records carrying the job id, and the job-end metric in the Cairn namespace as embedded metric format', async () => {
    vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'cairn');
    const rt = await withLocalDisk(memoryStores());
    const observability = lambdaObservability();
    const jobs = createJobsHandler(rt, observability);
    const ref = (await jobs({ action: 'queue', request: { client: 'c1', selections: ['/data'] } }, { functionName: 'jobs', awsRequestId: 'r1' } as never)) as { jobId: number };

    observability.count(Metric.JobsEnded, 1, { StatusClass: 'success' });
    await jobs({ action: 'finish', jobId: ref.jobId, outcome: { statusCode: 0 } }, { functionName: 'jobs', awsRequestId: 'r2' } as never);

    const logs = records().filter((r) => r.message === 'jobs finish' || r.message === 'jobs queue');
    expect(logs.map((r) => [r.message, r.jobId, r.service, r.level])).toEqual([
      ['jobs queue', ref.jobId, 'cairn', 'INFO'],
      ['jobs finish', ref.jobId, 'cairn', 'INFO'],
    ]);
    const emf = records().filter((r) => r._aws !== undefined);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'Cairn', Dimensions: [['service', 'StatusClass']], Metrics: [{ Name: 'JobsEnded', Unit: 'Count' }] }] },
      service: 'cairn',
      StatusClass: 'success',
      JobsEnded: 1,
    });
  });

  it('trace every SDK client of a Lambda (an X-Ray middleware on its stack), and leave clients alone elsewhere', () => {
    const env = { CONFIG_TABLE: 'c', JOBS_TABLE: 'j', CATALOG_TABLE: 'k', MEDIA_TABLE: 'm', AWS_REGION: 'eu-west-1' };
    const names = (clients: ReturnType<typeof createAwsClients>) => [clients.dynamodb, clients.sfn, clients.events].map((c) => c.middlewareStack.identify().join(' '));

    vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs22.x');
    const inLambda = observedLambda(env);
    vi.unstubAllEnvs();
    const plain = createAwsClients({ region: 'eu-west-1' }, {});

    expect(inLambda.observability.tracer.isTracingEnabled()).toBe(true);
    for (const stack of names(inLambda.clients)) expect(stack).toMatch(/XRay/i);
    for (const stack of names(plain)) expect(stack).not.toMatch(/XRay/i);
    inLambda.clients.destroy();
    plain.destroy();
  });
});
