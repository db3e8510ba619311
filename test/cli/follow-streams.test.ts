import { describe, expect, it } from 'vitest';
import { startAwsBackup, type AwsBackupDeps } from '#cli/aws-backup.ts';
import { finishJob, queueBackupJob } from '#core/jobs/job-service.ts';
import { asKind } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { CairnError } from '#core/errors.ts';
import { MemoryJobStore } from '#test/memory/memory-job-store.ts';
import { MemoryConfigStore } from '#test/memory/memory-config-store.ts';
import { InProcessExecutions, type ExecutionResult } from '#test/support/in-process-executions.ts';
import { samplePolicy, sampleStorageUnit } from '../contracts/fixtures.ts';

const INSTANCE = 'mi-0123456789abcdef0';

/**
 * `cairn --aws backup` of a multiple-data-streams policy on in-memory stores,
 * each stream's execution played by `stream` (its Queue step always runs: the
 * job is queued, then `stream` decides how it ends). The emulator test
 * (test/aws/multi-stream-job-aws.test.ts) runs the real workflow.
 */
async function setUp(stream: (jobId: number, selection: string) => Promise<ExecutionResult>, limit = 2) {
  const config = new MemoryConfigStore();
  const jobs = new MemoryJobStore();
  await config.putStorageUnit(sampleStorageUnit('disk1'));
  await config.putClient({ name: 'c1', instanceId: INSTANCE });
  await config.putPolicy(samplePolicy('p', { selections: ['/a', '/b', '/c'], multipleDataStreams: true, maxJobsPerPolicy: limit, clients: [{ name: 'c1', priority: 1 }] }));
  const clock = { now: () => new Date() };
  const executions = new InProcessExecutions(async (input) => {
    const request = (input as { request: { selections: string[] } }).request;
    const ref = await queueBackupJob({ config, jobs }, request, clock.now());
    await jobs.update(ref.jobId, (j) => ({ ...j, state: 'ACTIVE' }));
    return stream(ref.jobId, request.selections[0]!);
  });
  let looks = 0;
  const deps: AwsBackupDeps = { config, jobs, starter: executions, executions, clock, pause: async () => void (looks += 1, await new Promise((r) => setTimeout(r, 5))), unknownLooks: 3 };
  return { config, jobs, executions, deps, looks: () => looks };
}

describe('cairn --aws backup of a policy with multiple data streams', () => {
  it('queues the parent, starts the streams within the limit as earlier ones end, and ends with the worst stream', async () => {
    let running = 0;
    let most = 0;
    // The streams run only once setUp has returned: `s` is set by then.
    const s = await setUp(async (jobId, selection) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
      const statusCode = selection === '/b' ? 1 : 0;
      await finishJob(s.jobs, jobId, { statusCode }, new Date());
      return { statusCode };
    });
    const queued: number[] = [];

    const run = await startAwsBackup(s.deps, { client: 'c1', policy: 'p' }, { onQueued: (job) => queued.push(job.jobId) });

    expect(run.statusCode).toBe(1);
    expect(run.error).toMatch(/^1 of 3 streams partially successful: job \d+ \(\/b\): status 1$/);
    expect(queued).toEqual([run.jobId]);
    const parent = asKind(await s.jobs.get(run.jobId!), 'backup')!;
    expect(parent).toMatchObject({ state: 'DONE', statusCode: 1, owner: expect.stringMatching(/^cli:c1:\d+$/), executionName: expect.stringMatching(/^cli-c1-\d+$/) });
    expect(s.executions.started).toEqual([1, 2, 3].map((n) => `${parent.executionName}.s${n}`));
    expect(most).toBe(2);
    expect(parent.childJobIds).toHaveLength(3);
  });

  it('stops following when a stream\'s execution ended without ending its job, and says the parent stays open', async () => {
    const s = await setUp(async () => ({ statusCode: StatusCode.TERMINATED_BY_ADMINISTRATOR, error: 'stopped' }), 3);

    const run = await startAwsBackup(s.deps, { client: 'c1', policy: 'p' }, {});

    expect(run.statusCode).toBe(StatusCode.INTERNAL_ERROR);
    expect(run.error).toMatch(/^the execution cli-c1-\d+\.s1 ended FAILED while stream job \d+ was ACTIVE \(Status150: stopped\); that job and the parent job \d+ stay open until the scheduler's sweep ends the stream$/);
    expect((await s.jobs.get(run.jobId!))?.state).toBe('ACTIVE');
    // Given the janitor's time: three looks, not the first one.
    expect(s.looks()).toBeGreaterThanOrEqual(3);
  });

  it('stops following a parent it cannot advance (StartExecution keeps failing), leaving it to the tick', async () => {
    const s = await setUp(async () => ({ statusCode: 0 }));
    const throttled = { start: async (): Promise<never> => { throw new CairnError(StatusCode.INTERNAL_ERROR, 'StartExecution failed: ThrottlingException'); } };

    const run = await startAwsBackup({ ...s.deps, starter: throttled }, { client: 'c1', policy: 'p' }, {});

    expect(run.statusCode).toBe(StatusCode.INTERNAL_ERROR);
    expect(run.error).toMatch(/^the parent job \d+ could not be advanced 3 times in a row \(StartExecution failed: ThrottlingException\); it stays ACTIVE and the scheduler's tick goes on advancing it$/);
    expect(await s.jobs.get(run.jobId!)).toMatchObject({ state: 'ACTIVE', childJobIds: [] });
  });

  it('refuses a client no agent serves before it queues anything (48)', async () => {
    const s = await setUp(async () => ({ statusCode: 0 }));
    await expect(startAwsBackup(s.deps, { client: 'nobody', policy: 'p' }, {})).rejects.toMatchObject({ statusCode: StatusCode.CLIENT_NOT_FOUND });
    expect(await s.jobs.list()).toEqual([]);
  });
});
