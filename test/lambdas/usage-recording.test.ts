import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '#test/memory/memory-job-store.ts';
import { withUsageRecording, type UsageRecordingDeps } from '#lambdas/usage-recording.ts';
import { sampleJob } from '#test/contracts/fixtures.ts';

/** A monotonic clock that moves `step` ms at each look, and a meter that reports what the test says the clients counted. */
function fixture(overrides: Partial<UsageRecordingDeps> = {}) {
  const jobs = new MemoryJobStore();
  let now = 0;
  const counted: Record<string, number>[] = [];
  const deps: UsageRecordingDeps = {
    jobs,
    takeUsage: () => counted.shift() ?? {},
    elapsedMs: () => (now += 40.2),
    arch: 'arm64',
    ...overrides,
  };
  return { jobs, deps, counted };
}
const context = (memoryLimitInMB: string) => ({ memoryLimitInMB }) as never;

describe('a workflow Lambda records what each invocation used on its job', () => {
  it('adds one invocation, its time rounded up to the millisecond times its memory, a cold start only the first time, and what its clients counted', async () => {
    const { jobs, deps, counted } = fixture();
    await jobs.create(sampleJob(3));
    const handler = withUsageRecording(async (event: unknown) => ({ echoed: event }), deps);
    // What an earlier invocation left in the meter is not this one's: the first take is discarded.
    counted.push({ dynamoWriteUnits: 99 }, { dynamoWriteRequests: 2, dynamoWriteUnits: 3 });
    expect(await handler({ action: 'reserve', jobId: 3 }, context('512'))).toEqual({ echoed: { action: 'reserve', jobId: 3 } });
    counted.push({}, { dynamoReadRequests: 1, dynamoReadUnits: 1 });
    await handler({ action: 'release', jobId: 3 }, context('512'));
    expect(await jobs.usage(3)).toMatchObject({
      lambdaInvocations: 2,
      lambdaColdStarts: 1,
      lambdaBilledMs: 82,
      lambdaArmMbMs: 82 * 512,
      lambdaX86MbMs: 0,
      dynamoWriteRequests: 2,
      dynamoWriteUnits: 3,
      dynamoReadUnits: 1,
    });
  });

  it('takes the job from the result when the input has none (Queue), and records nothing when neither has one', async () => {
    const { jobs, deps } = fixture({ arch: 'x64' });
    const queue = withUsageRecording(async () => ({ jobId: 8, state: 'QUEUED' }), deps);
    await queue({ action: 'queue', request: {} }, context('1024'));
    expect(await jobs.usage(8)).toMatchObject({ lambdaInvocations: 1, lambdaX86MbMs: 41 * 1024, lambdaArmMbMs: 0 });
    let recorded = 0;
    const rejected = withUsageRecording(async () => Promise.reject(new Error('policy missing does not exist')), { ...deps, jobs: Object.assign(Object.create(jobs) as MemoryJobStore, { recordUsage: async () => void (recorded += 1) }) });
    await expect(rejected({ action: 'queue', request: {} }, context('1024'))).rejects.toThrow('policy missing does not exist');
    expect(recorded).toBe(0);
  });

  it('records a failed invocation too, and the failure is what the workflow sees', async () => {
    const { jobs, deps } = fixture();
    const handler = withUsageRecording(async () => Promise.reject(Object.assign(new Error('full'), { name: 'Status219' })), deps);
    await expect(handler({ action: 'reserve', jobId: 5 }, context('512'))).rejects.toMatchObject({ name: 'Status219' });
    expect((await jobs.usage(5)).lambdaInvocations).toBe(1);
  });

  it('does not fail the Task when the usage write fails: it says so and the result stands', async () => {
    const failures: unknown[] = [];
    const { jobs, deps } = fixture({ onFailure: (error) => failures.push(error) });
    const broken = Object.assign(Object.create(jobs) as MemoryJobStore, { recordUsage: async () => Promise.reject(new Error('throttled')) });
    const handler = withUsageRecording(async () => ({ granted: true }), { ...deps, jobs: broken });
    expect(await handler({ action: 'reserve', jobId: 5 }, context('512'))).toEqual({ granted: true });
    expect(failures).toMatchObject([{ message: 'throttled' }]);
  });
});
