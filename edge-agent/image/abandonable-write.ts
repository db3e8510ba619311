/**
 * How long a stopped backup waits for an upload it stopped to settle before
 * it leaves the upload behind. Long enough for a healthy store to abort an
 * upload (S3: AbortMultipartUpload; disk: close and unlink the partial
 * file); short enough that a cancelled job ends long before the workflow's
 * heartbeat timeout (600 s).
 */
export const ABORT_GRACE_MS = 10_000;

/**
 * A write to a store (a fragment's `sink.write`, the index's `store.put`)
 * that the backup may stop waiting for.
 *
 * Stopping a write (destroying the stream it reads) normally makes it
 * settle at once. A store whose write never settles (an S3 upload stuck on a
 * dead connection, a disk that stopped answering) would otherwise hold the
 * backup, and so its job, slot and claim, for ever. `settleWithin` bounds
 * that wait: once it gives up, `result` rejects with the reason given, so
 * every waiter on the write is released; the write itself is left to run
 * out, and what it wrote belongs to the job's claim (removed by the janitor).
 */
export class AbandonableWrite<T> {
  /** The write's outcome, or, once abandoned, a rejection with the reason given to `settleWithin`. */
  readonly result: Promise<T>;
  #settled = false;
  #abandon!: (reason: unknown) => void;
  readonly #write: Promise<unknown>;

  constructor(write: Promise<T>) {
    this.result = new Promise<T>((resolve, reject) => {
      this.#abandon = reject;
      write.then(resolve, reject);
    });
    this.#write = write.then(
      () => void (this.#settled = true),
      () => void (this.#settled = true),
    );
  }

  /** True once the write itself settled (not merely abandoned). */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Waits at most `ms` for the write to settle. Resolves true if it did;
   * otherwise abandons it (`result` rejects with `reason`) and resolves false.
   * Never rejects.
   */
  async settleWithin(ms: number, reason: unknown): Promise<boolean> {
    if (this.#settled) return true;
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: while the backup waits here, this timer is what ends the wait.
    const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.#write, gaveUp]);
    clearTimeout(timer);
    if (this.#settled) return true;
    this.#abandon(reason);
    return false;
  }
}
