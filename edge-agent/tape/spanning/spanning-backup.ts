import type { BackupTaskResult } from '#core/model/task.ts';
import { SPAN_WAIT_SECONDS, type TapeTarget, type VolumeFullOutcome } from '#core/model/tape-task.ts';
import type { Continuation, FullVolume, NextVolumes, SpanRendezvous } from './next-volumes.ts';

/** What one Stream or Continue step of a tape backup ends with. */
export type BackupStepOutcome = BackupTaskResult | VolumeFullOutcome;

export interface SpanningBackupOptions {
  jobId: number;
  /** This backup's name in the rendezvous (and in its volume-full outcomes). */
  waiter: string;
  rendezvous: SpanRendezvous;
  /** How long it waits for each next volume (`TapeTarget.spanWaitSeconds`, default SPAN_WAIT_SECONDS). */
  spanWaitSeconds?: number;
  now: () => Date;
  /** Told of each continuation as it is taken, before the backup goes on (the AWS agent switches to its task token). */
  onContinuation?: (continuation: Continuation) => void;
}

/**
 * One tape backup seen as the workflow's steps: the backup runs once, from
 * the Stream step to its end, and each step (Stream, then one Continue per
 * next volume) ends with `next()`: a volume-full outcome when the backup
 * filled a volume and waits for the next (it stays alive, its drive
 * closed), or its result (or failure) when it ended. The next volume comes
 * through the rendezvous, registered before the volume-full outcome is
 * given out, so a Continue step can never come too early.
 */
export class SpanningBackup {
  readonly #options: SpanningBackupOptions;
  readonly #outcomes: Array<{ outcome: BackupStepOutcome } | { error: unknown }> = [];
  #wanted: ((item: { outcome: BackupStepOutcome } | { error: unknown }) => void) | undefined;
  #ended!: Promise<void>;

  constructor(options: SpanningBackupOptions) {
    this.#options = options;
  }

  /** Starts the backup: `run` gets the NextVolumes its tape sinks ask for each next volume. */
  start(run: (volumes: NextVolumes) => Promise<BackupTaskResult>): this {
    const volumes: NextVolumes = { next: (full) => this.#nextVolume(full) };
    this.#ended = run(volumes).then(
      (outcome) => this.#put({ outcome }),
      (error: unknown) => this.#put({ error }),
    );
    return this;
  }

  /** Settles once the backup has ended, whatever its end. */
  get ended(): Promise<void> {
    return this.#ended;
  }

  /** The current step's outcome: the next volume-full, or the backup's result; rejects with its failure. */
  async next(): Promise<BackupStepOutcome> {
    const item = this.#outcomes.shift() ?? (await new Promise<{ outcome: BackupStepOutcome } | { error: unknown }>((resolve) => (this.#wanted = resolve)));
    if ('error' in item) throw item.error;
    return item.outcome;
  }

  #put(item: { outcome: BackupStepOutcome } | { error: unknown }): void {
    const wanted = this.#wanted;
    this.#wanted = undefined;
    if (wanted) wanted(item);
    else this.#outcomes.push(item);
  }

  async #nextVolume(full: FullVolume): Promise<TapeTarget> {
    const { jobId, waiter, rendezvous, now } = this.#options;
    const seconds = this.#options.spanWaitSeconds ?? SPAN_WAIT_SECONDS;
    const { continuation } = await rendezvous.awaitContinuation(jobId, waiter, seconds * 1000);
    this.#put({ outcome: { outcome: 'volume-full', jobId, waiter, ...full, fullAt: now().toISOString() } });
    const taken = await continuation;
    this.#options.onContinuation?.(taken);
    return taken.tape;
  }
}
