import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { Continuation, SpanRendezvous } from './next-volumes.ts';

interface Waiting {
  jobId: number;
  resolve(continuation: Continuation): void;
  reject(error: unknown): void;
}

/**
 * The rendezvous inside one process (the standalone runtime: the Stream
 * and Continue steps run the agent in the job engine's process): a map of
 * the backups that wait, by waiter. A continuation is handed over
 * synchronously, so `offer` resolves once the waiter has it.
 */
export class MemoryRendezvous implements SpanRendezvous {
  readonly #waiting = new Map<string, Waiting>();

  async awaitContinuation(jobId: number, waiter: string, timeoutMs: number): Promise<{ continuation: Promise<Continuation> }> {
    if (this.#waiting.has(waiter)) throw new CairnError(StatusCode.INTERNAL_ERROR, `backup ${waiter} of job ${jobId} waits for a volume already`);
    const continuation = new Promise<Continuation>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(waiter);
        reject(new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `job ${jobId}: no next volume came within ${Math.round(timeoutMs / 1000)} s of the last one filling (media mount timeout); the backup stops`));
      }, timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(waiter);
      };
      this.#waiting.set(waiter, {
        jobId,
        resolve: (continuation) => {
          settle();
          resolve(continuation);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
    });
    return { continuation };
  }

  async offer(jobId: number, waiter: string, continuation: Continuation): Promise<void> {
    const waiting = this.#waiting.get(waiter);
    if (waiting === undefined || waiting.jobId !== jobId) throw new CairnError(StatusCode.CLIENT_PROCESS_ABORTED, `no backup of job ${jobId} waits for a volume here (waiter ${waiter}): it ended or gave up`);
    waiting.resolve(continuation);
  }

  async withdraw(jobId: number, reason: string): Promise<void> {
    for (const waiting of [...this.#waiting.values()].filter((w) => w.jobId === jobId)) {
      waiting.reject(new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `job ${jobId}: no next volume comes: ${reason}`));
    }
  }
}
