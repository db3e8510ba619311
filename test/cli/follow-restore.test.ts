import { describe, expect, it } from 'vitest';
import type { ExecutionView } from '#cli/follow-backup.ts';
import { followRestore } from '#cli/follow-restore.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MemoryJobStore } from '../memory/memory-job-store.ts';
import { sampleJob, sampleRestoreJob } from '../contracts/fixtures.ts';

const OWNER = 'cli:restore:host1_1795400000:1796000000000';

/** What each look sees: the execution's state, and a change to the Jobs table made before that look. */
function scripted(steps: Array<{ execution?: ExecutionView; before?: (jobs: MemoryJobStore) => Promise<void> }>) {
  const jobs = new MemoryJobStore();
  let look = -1;
  return {
    owner: OWNER,
    executionName: 'cli-restore-host1_1795400000-1796000000000',
    jobs,
    pause: async () => {
      look += 1;
      await steps[Math.min(look, steps.length - 1)]?.before?.(jobs);
    },
    execution: async () => steps[Math.min(look, steps.length - 1)]?.execution,
  };
}

const running: ExecutionView = { status: 'RUNNING' };

describe('followRestore (cairn --aws restore of a tape image waiting for its job)', () => {
  it("ends with the restore job's status and record once it is DONE, past a backup job of the same owner tag", async () => {
    const queued: number[] = [];
    const options = scripted([
      { execution: running, before: (jobs) => jobs.create(sampleJob(3, { owner: OWNER, state: 'DONE', statusCode: 0 })) },
      { execution: running, before: (jobs) => jobs.create(sampleRestoreJob(4, { owner: OWNER, state: 'ACTIVE' })) },
      { execution: running, before: async (jobs) => void (await jobs.update(4, (j) => ({ ...j, state: 'DONE', statusCode: 1 }))) },
    ]);

    const run = await followRestore({ ...options, onQueued: (job) => queued.push(job.jobId) });

    expect(run).toMatchObject({ jobId: 4, statusCode: 1, job: { type: 'restore', jobId: 4 } });
    expect(queued).toEqual([4]);
  });

  it('ends with 20 and the cause when the execution fails before Queue recorded a job (a refused request)', async () => {
    const options = scripted([{ execution: running }, { execution: { status: 'FAILED', error: 'JobNotQueued', cause: 'image x is not on tape' } }]);

    const run = await followRestore(options);

    expect(run.jobId).toBeUndefined();
    expect(run.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(run.error).toMatch(/ended FAILED without queueing a restore job \(JobNotQueued: image x is not on tape\)/);
  });

  it('ends with 150 when the execution is stopped while the job is ACTIVE, saying the record stays open', async () => {
    const options = scripted([
      { execution: running, before: (jobs) => jobs.create(sampleRestoreJob(5, { owner: OWNER, state: 'ACTIVE' })) },
      { execution: { status: 'ABORTED' } },
    ]);

    const run = await followRestore(options);

    expect(run).toMatchObject({ jobId: 5, statusCode: StatusCode.TERMINATED_BY_ADMINISTRATOR });
    expect(run.error).toMatch(/ended ABORTED while restore job 5 was ACTIVE/);
  });
});
