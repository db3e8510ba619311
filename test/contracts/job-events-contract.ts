import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobStateChange, JOB_EVENT_SOURCE, JOB_STATE_CHANGE, type JobEventPublisher } from '#core/ports/job-events.ts';
import type { DeliveredEvent } from '../memory/memory-job-events.ts';
import { sampleJob, sampleRestoreJob } from './fixtures.ts';

export interface JobEventsFixture {
  publisher: JobEventPublisher;
  /** What subscribers of `source: cairn`, `detail-type: Cairn Job State Change` have received so far. */
  delivered(): Promise<DeliveredEvent[]>;
  cleanup?(): Promise<void>;
}

/** The JobEventPublisher port's contract (core/ports/job-events.ts), for every adapter. */
export function describeJobEventsContract(adapter: string, open: () => Promise<JobEventsFixture>, skipReason?: string): void {
  describe.skipIf(Boolean(skipReason))(`JobEventPublisher contract: ${adapter}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fixture: JobEventsFixture;
    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture.cleanup?.();
    });

    it('delivers a change as one "Cairn Job State Change" event from source cairn, the change as its detail and its instant as the time', async () => {
      const queued = jobStateChange(sampleJob(7, { state: 'QUEUED', executionName: 'nightly.client1.daily.1795400000', updatedAt: '2026-11-23T02:00:07.250Z' }), undefined);

      await fixture.publisher.publish(queued);

      expect(await fixture.delivered()).toEqual([{ source: JOB_EVENT_SOURCE, detailType: JOB_STATE_CHANGE, detail: queued, time: '2026-11-23T02:00:07Z' }]);
    });

    it('keeps a field the job lacks absent, and carries the end of a job with its status', async () => {
      const ended = jobStateChange(sampleJob(8, { state: 'DONE', statusCode: 84, statusText: 'media write error', backupId: 'client1_1795400008', startedAt: '2026-11-23T02:00:08.000Z', endedAt: '2026-11-23T02:10:00.000Z', updatedAt: '2026-11-23T02:10:00.000Z' }), 'ACTIVE');
      const restore = jobStateChange(sampleRestoreJob(9, { state: 'ACTIVE' }), 'QUEUED');

      await fixture.publisher.publish(ended);
      await fixture.publisher.publish(restore);

      const details = (await fixture.delivered()).map((e) => e.detail as Record<string, unknown>);
      // Delivery is unordered: find each by its job.
      const byJob = new Map(details.map((d) => [d.jobId, d]));
      expect(details).toHaveLength(2);
      expect(byJob.get(8)).toEqual(ended);
      expect(byJob.get(8)).toMatchObject({ state: 'DONE', previousState: 'ACTIVE', statusCode: 84, backupId: 'client1_1795400008' });
      expect(byJob.get(9)).toEqual(restore);
      expect(Object.keys(byJob.get(9)!)).not.toContain('policy');
      expect(Object.keys(byJob.get(9)!)).not.toContain('statusCode');
    });
  });
}
