import { describe, expect, it } from 'vitest';
import type { ExecutionView } from '#cli/follow-execution.ts';
import { followVerify } from '#cli/follow-verify.ts';
import type { VerifyJob } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { MemoryJobStore } from '../memory/memory-job-store.ts';
import { sampleRestoreJob } from '../contracts/fixtures.ts';

const OWNER = 'cli:verify:host1_1795400000:1796000000000';

function verifyJob(jobId: number, overrides: Partial<VerifyJob> = {}): VerifyJob {
  const at = '2026-11-03T02:00:00.000Z';
  return { jobId, type: 'verify', state: 'QUEUED', attempt: 1, client: 'host1', image: 'host1_1795400000', storageUnit: 'disk1', problems: [], problemCount: 0, attempts: [], progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 }, owner: OWNER, queuedAt: at, updatedAt: at, ...overrides };
}

function scripted(steps: Array<{ execution?: ExecutionView; before?: (jobs: MemoryJobStore) => Promise<void> }>) {
  const jobs = new MemoryJobStore();
  let look = -1;
  return {
    owner: OWNER,
    executionName: 'cli-verify-host1_1795400000-1796000000000',
    jobs,
    pause: async () => {
      look += 1;
      await steps[Math.min(look, steps.length - 1)]?.before?.(jobs);
    },
    execution: async () => steps[Math.min(look, steps.length - 1)]?.execution,
  };
}

const running: ExecutionView = { status: 'RUNNING' };

describe('followVerify (cairn --aws verify waiting for its job)', () => {
  it("ends with the verify job's status and error once it is DONE, past a restore job of the same owner tag", async () => {
    const queued: string[] = [];
    const options = scripted([
      { execution: running, before: (jobs) => jobs.create(sampleRestoreJob(3, { owner: OWNER, state: 'DONE', statusCode: 0 })) },
      { execution: running, before: (jobs) => jobs.create(verifyJob(4, { state: 'ACTIVE' })) },
      { execution: running, before: async (jobs) => void (await jobs.update(4, (j) => ({ ...j, state: 'DONE', statusCode: 2001, error: 'image host1_1795400000 is corrupt (1 problem): /a (fragment 1 at byte 0): ...' }))) },
    ]);
    const run = await followVerify({ ...options, onQueued: (ref) => queued.push(`${ref.jobId} ${ref.backupId}`) });
    expect(run).toMatchObject({ jobId: 4, statusCode: StatusCode.CORRUPT_IMAGE, job: { type: 'verify', image: 'host1_1795400000' } });
    expect(run.error).toContain('/a (fragment 1 at byte 0)');
    expect(queued).toEqual(['4 host1_1795400000']);
  });

  it('ends with 20 and the cause when Queue refused the request (no job)', async () => {
    const options = scripted([{ execution: { status: 'FAILED', error: 'JobNotQueued', cause: 'image nobody_1 is not in the catalog' } }]);
    const run = await followVerify(options);
    expect(run.jobId).toBeUndefined();
    expect(run.statusCode).toBe(StatusCode.INVALID_COMMAND_USAGE);
    expect(run.error).toContain('not in the catalog');
  });
});
