import type { TapeTarget, VolumeFullOutcome } from '#core/model/tape-task.ts';

/** What the tape sinks say of a volume that reached end of media, its last fragment closed. */
export type FullVolume = Pick<VolumeFullOutcome, 'mediaId' | 'drive' | 'fragments' | 'bytes' | 'appendFile'>;

/**
 * How a backup whose volume filled gets the next one (spanning): `next`
 * reports the full volume to the workflow and resolves with the next
 * target once the workflow reserved and mounted it (the same drive, another
 * volume). It rejects with 96 when none comes within the wait (the media
 * mount timeout: the workflow found no volume, or stopped), and then the
 * backup fails as any backup whose sink failed.
 */
export interface NextVolumes {
  next(full: FullVolume): Promise<TapeTarget>;
}

/** What the Continue step hands a waiting backup: the mounted volume, and on AWS the task token it reports on from now on. */
export interface Continuation {
  tape: TapeTarget;
  taskToken?: string;
}

/**
 * Where a waiting backup and the Continue step meet, per job and per
 * waiting backup (`waiter`, named in the volume-full outcome, so a later
 * attempt of the job never takes an earlier one's continuation).
 *
 * - `awaitContinuation` (the waiting backup): resolves once the waiter is
 *   registered (so it is registered before the workflow hears the volume is
 *   full), with `continuation`, which resolves with the continuation meant
 *   for it, or rejects with 96 after `timeoutMs` or when `withdraw` says no
 *   volume comes. Each registration takes one continuation; what it leaves
 *   behind is gone once it settles.
 * - `offer` (the Continue step): hands the continuation over and resolves
 *   once the waiting backup took it; rejects (50, client process aborted)
 *   when no such backup waits, or it did not take it in time: the
 *   Continue step then fails, and nothing was handed over.
 * - `withdraw` (the Unmount step, on every path out of the job): every
 *   backup of the job still waiting gives up at once with 96 and `reason`.
 */
export interface SpanRendezvous {
  awaitContinuation(jobId: number, waiter: string, timeoutMs: number): Promise<{ continuation: Promise<Continuation> }>;
  offer(jobId: number, waiter: string, continuation: Continuation): Promise<void>;
  withdraw(jobId: number, reason: string): Promise<void>;
}
