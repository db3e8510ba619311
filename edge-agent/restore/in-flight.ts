/** How much restore work may be under way at once while the tar parser reads on. */
export interface InFlightLimits {
  /** Files being written at once: enough to keep libuv's thread pool (4 threads) busy with their open/write/close/rename calls. */
  files: number;
  /** Bytes of file content held in memory for them: the bound on what restore buffers. */
  bytes: number;
}

/**
 * The files a restore writes while the parser goes on to the next members.
 * Each task is keyed by the member's relative path, so a later member at
 * the same path (or under it, or a hard link to it) can wait for it; the
 * number of tasks and the bytes they hold are bounded. The first task that
 * fails is kept and rethrown by `room` and `drain`, and no new task starts
 * after it.
 */
export class InFlight {
  readonly #limits: InFlightLimits;
  readonly #tasks = new Map<string, Promise<void>>();
  #bytes = 0;
  #failed = false;
  #failure: unknown;

  readonly #beforeWait: () => void;

  /** `beforeWait` runs before any wait for a task: work gathered in batches (restore/file-writer.ts) is sent then, or the wait would never end. */
  constructor(limits: InFlightLimits, beforeWait: () => void = () => undefined) {
    this.#limits = limits;
    this.#beforeWait = beforeWait;
  }

  /** Waits until a task holding `bytes` fits within the limits (one always fits when nothing is in flight); rethrows a failed task's error. */
  async room(bytes: number): Promise<void> {
    while (this.#tasks.size > 0 && (this.#tasks.size >= this.#limits.files || this.#bytes + bytes > this.#limits.bytes)) {
      this.#throwIfFailed();
      this.#beforeWait();
      await Promise.race(this.#tasks.values());
    }
    this.#throwIfFailed();
  }

  /** Starts `work` for the member at `key`, holding `bytes` until it settles. Call `room` first. */
  add(key: string, bytes: number, work: () => Promise<void>): void {
    this.#bytes += bytes;
    const task: Promise<void> = work()
      .catch((error: unknown) => {
        if (!this.#failed) {
          this.#failed = true;
          this.#failure = error;
        }
      })
      .finally(() => {
        this.#bytes -= bytes;
        if (this.#tasks.get(key) === task) this.#tasks.delete(key);
      });
    this.#tasks.set(key, task);
  }

  /** Waits for the task of `key`, if one is in flight (it never rejects: its failure is kept). */
  async settled(key: string): Promise<void> {
    const task = this.#tasks.get(key);
    if (task === undefined) return;
    this.#beforeWait();
    await task;
  }

  /** Waits for every task; rethrows the first failure. */
  async drain(): Promise<void> {
    while (this.#tasks.size > 0) {
      this.#beforeWait();
      await Promise.all(this.#tasks.values());
    }
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failed) throw this.#failure;
  }
}
