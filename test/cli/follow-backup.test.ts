import { describe, expect, it } from 'vitest';
import { followBackup, type ExecutionView } from '#cli/follow-backup.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MemoryJobStore } from '../memory/memory-job-store.ts';
import { sampleJob } from '../contracts/fixtures.ts';

const OWNER = 'cli:client1:1796000000000';

/** A script of what each look sees: the execution's state, and a change to the Jobs table made before that look. */
function scripted(steps: Array<{ execution?: ExecutionView; before?: (jobs: MemoryJobStore) => Promise<void> }>) {
  const jobs = new MemoryJobStore();
  let look = -1;
  const describes: number[] = [];
  return {
    jobs,
    describes,
    options: {
      owner: OWNER,
      executionName: 'cli-client1-1796000000000',
      jobs,
      pause: async () => {
        look += 1;
        await steps[Math.min(look, steps.length - 1)]?.before?.(jobs);
      },
      execution: async () => {
        describes.push(look);
        return steps[Math.min(look, steps.length - 1)]?.execution;
      },
    },
  };
}

const running: ExecutionView = { status: 'RUNNING' };

describe('followBackup (cairn --aws backup waiting for its job)', () => {
  it("ends with the job's status once the job it queued is DONE, and says when it was queued", async () => {
    const queued: number[] = [];
    const { options } = scripted([
      { execution: running },
      { execution: running, before: (jobs) => jobs.create(sampleJob(4, { owner: OWNER, state: 'ACTIVE' })) },
      { execution: running, before: async (jobs) => void (await jobs.update(4, (j) => ({ ...j, state: 'DONE', statusCode: 1 }))) },
    ]);

    const run = await followBackup({ ...options, onQueued: (job) => queued.push(job.jobId) });

    expect(run).toMatchObject({ jobId: 4, statusCode: 1 });
    expect(queued).toEqual([4]);
  });

  it('ends with 150 and the execution status when the execution is stopped before it queues a job', async () => {
    const { options } = scripted([{ execution: running }, { execution: running }, { execution: { status: 'ABORTED' } }]);

    const run = await followBackup(options);

    expect(run.jobId).toBeUndefined();
    expect(run.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
    expect(run.error).toBe('the execution cli-client1-1796000000000 ended ABORTED without queueing a job');
  });

  it("ends with the execution's failure when its Queue step failed", async () => {
    const { options } = scripted([{ execution: { status: 'FAILED', error: 'States.TaskFailed', cause: 'policy nightly does not exist' } }]);

    const run = await followBackup(options);

    expect(run).toEqual({ statusCode: StatusCode.INTERNAL_ERROR, error: 'the execution cli-client1-1796000000000 ended FAILED without queueing a job (States.TaskFailed: policy nightly does not exist)' });
  });

  it('ends with 41 when the execution timed out while its job was still ACTIVE, and says the record is left open', async () => {
    const { options } = scripted([
      { execution: running, before: (jobs) => jobs.create(sampleJob(9, { owner: OWNER, state: 'ACTIVE' })) },
      { execution: running },
      { execution: { status: 'TIMED_OUT' } },
    ]);

    const run = await followBackup(options);

    expect(run).toEqual({
      jobId: 9,
      statusCode: StatusCode.NETWORK_TIMEOUT,
      error: "the execution cli-client1-1796000000000 ended TIMED_OUT while job 9 was ACTIVE; the job's record stays ACTIVE until something ends it",
    });
  });

  it('takes the job as DONE when its last write lands just before the execution is seen ended', async () => {
    // The job is created and ended between the look that found nothing and the look at the ended execution.
    let created = false;
    const jobs = new MemoryJobStore();
    const run = await followBackup({
      owner: OWNER,
      executionName: 'x',
      jobs,
      pause: async () => undefined,
      execution: async () => {
        if (!created) {
          created = true;
          await jobs.create(sampleJob(5, { owner: OWNER, state: 'DONE', statusCode: 0 }));
        }
        return { status: 'SUCCEEDED' };
      },
    });

    expect(run).toMatchObject({ jobId: 5, statusCode: 0 });
  });

  it('gives up on an execution Step Functions never lists, after the looks it is allowed', async () => {
    const { options, describes } = scripted([{}]);

    const run = await followBackup({ ...options, unknownLooks: 4 });

    expect(run.statusCode).toBe(StatusCode.INTERNAL_ERROR);
    expect(run.error).toBe('Step Functions does not know the execution cli-client1-1796000000000 that this backup started');
    expect(describes).toHaveLength(4);
  });

  it("ignores other backups' jobs", async () => {
    const { options } = scripted([
      { execution: running, before: (jobs) => jobs.create(sampleJob(1, { owner: 'cli:client1:1', state: 'DONE', statusCode: 0 })) },
      { execution: { status: 'ABORTED' } },
    ]);

    const run = await followBackup(options);

    expect(run.jobId).toBeUndefined();
    expect(run.statusCode).toBe(StatusCode.TERMINATED_BY_ADMINISTRATOR);
  });
});
