import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';

export interface TaskReporterFixture {
  reporter: TaskReporter;
  /** The signal of the work the reporter may abort. */
  signal: AbortSignal;
  /** Makes the task unwanted from outside: the job record ended, the workflow stopped waiting. */
  endTask(): Promise<void>;
  /** The status code the abort reason carries once the task was ended that way. */
  endedStatus: number;
  /** Makes the backing fail the next heartbeat for another reason (a throttled service, a lost connection). */
  failNextHeartbeat(): void;
  /** Heartbeats that reached the backing (the workflow, or whatever stands for it). */
  heartbeatsDelivered(): number;
  cleanup?(): Promise<void>;
}

const UPDATE = { files: 3, bytes: 4096, throughputBps: 1024, writerWaits: 1, readerWaits: 0, currentPath: '/data/f' };

/** The TaskReporter port's contract (core/ports/task-reporter.ts), for every adapter. */
export function describeTaskReporterContract(adapter: string, open: () => Promise<TaskReporterFixture>, skipReason?: string): void {
  describe.skipIf(Boolean(skipReason))(`TaskReporter contract: ${adapter}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fixture: TaskReporterFixture;
    beforeEach(async () => {
      fixture = await open();
    });
    afterEach(async () => {
      await fixture.cleanup?.();
    });

    it('reports progress and heartbeats while the task is wanted, and leaves the work running', async () => {
      await fixture.reporter.progress(UPDATE);
      await fixture.reporter.heartbeat();
      await fixture.reporter.heartbeat();

      expect(fixture.signal.aborted).toBe(false);
      expect(fixture.heartbeatsDelivered()).toBe(2);
    });

    it('aborts the work at the next heartbeat once the task is no longer wanted, with a status that says why, and resolves', async () => {
      await fixture.endTask();

      await fixture.reporter.heartbeat();

      expect(fixture.signal.aborted).toBe(true);
      expect(fixture.signal.reason).toBeInstanceOf(CairnError);
      expect((fixture.signal.reason as CairnError).statusCode).toBe(fixture.endedStatus);
    });

    it('changes nothing once the work was aborted: later reports resolve and deliver nothing', async () => {
      await fixture.endTask();
      await fixture.reporter.heartbeat();
      const reason: unknown = fixture.signal.reason;
      const delivered = fixture.heartbeatsDelivered();

      await fixture.reporter.progress(UPDATE);
      await fixture.reporter.heartbeat();

      expect(fixture.signal.reason).toBe(reason);
      expect(fixture.heartbeatsDelivered()).toBe(delivered);
    });

    it('rejects a heartbeat that fails for another reason, leaves the work running, and delivers the next one', async () => {
      fixture.failNextHeartbeat();

      await expect(fixture.reporter.heartbeat()).rejects.toBeInstanceOf(Error);
      expect(fixture.signal.aborted).toBe(false);
      await fixture.reporter.heartbeat();
      expect(fixture.heartbeatsDelivered()).toBe(1);
    });
  });
}
