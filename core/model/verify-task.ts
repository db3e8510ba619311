import { z } from 'zod';
import { Image } from './image.ts';
import { StorageUnit } from './storage-unit.ts';
import { TapeReadTarget } from './tape-task.ts';
import { RehearsalSample } from './policy.ts';

/**
 * A restore rehearsal's Verify step: `image` (the task's) and `others` are
 * the final images of the client's point-in-time view; `earlier` the
 * images their incrementals' unchanged files may be in; `units` the disk
 * and S3 units their copies are on (the agent opens the first usable copy
 * of each, as a restore does). The sample is chosen on the agent from the
 * index with `seed` (core/jobs/rehearsal-sample.ts).
 */
export const RehearsalTask = z
  .object({
    sample: RehearsalSample,
    seed: z.string().min(1),
    /** The client's scratch directory; absent: the agent's default. */
    scratch: z.string().min(1).optional(),
    policy: z.string().min(1).optional(),
    others: z.array(Image).default([]),
    earlier: z.array(Image).default([]),
    units: z.array(StorageUnit).min(1),
  })
  .strict();
export type RehearsalTask = z.output<typeof RehearsalTask>;

/** What a rehearsal did, with the verify result's totals (`members`/`filesHashed`: files compared; `problems`: mismatches). */
export const RehearsalResult = z
  .object({
    images: z.array(z.string()),
    restoredFrom: z.array(z.string()),
    sampleSize: z.number().int().min(0),
    filesChecked: z.number().int().min(0),
    scratchPath: z.string(),
    scratchDeleted: z.boolean(),
    scratchProblem: z.string().optional(),
    /** The restore itself failed: its status and message (the job ends with that status). */
    restoreFailure: z.object({ statusCode: z.number().int(), message: z.string() }).strict().optional(),
  })
  .strict();
export type RehearsalResult = z.output<typeof RehearsalResult>;

/**
 * A tape verify job's file whose pieces run from one volume onto the next:
 * its sha256 state after the last piece the volume's Read hashed
 * (edge-agent/verify/resumable-sha256.ts, about 150 characters), the file's
 * path, and the file byte its next piece starts at. The Read hands it back,
 * RecordRead keeps it on the job, and the next volume's Reserve puts it in
 * that Read's task, so the whole file's sha256 is checked on the volume
 * with its last piece.
 */
export const PieceCarry = z
  .object({
    path: z.string().min(1),
    next: z.number().int().min(1),
    sha256State: z.string().min(1).max(1000),
  })
  .strict();
export type PieceCarry = z.output<typeof PieceCarry>;

/**
 * A verify job's Verify step (verify-job.asl.json): the agent reads the
 * image's primary copy on `storageUnit` (or one volume of it: `tape`) and checks it, writing nothing
 * (edge-agent/verify/verify-image.ts). The catalog record travels with the
 * task: it is the root of trust the agent checks the storage against.
 */
export const VerifyTask = z
  .object({
    jobId: z.number().int().positive(),
    image: Image,
    storageUnit: StorageUnit,
    /**
     * A tape image's verify job reads one volume per Read step (the restore
     * job's loop): the drive the Mount step loaded, the volume, and the
     * catalog's fragments on it. The manifest and index are checked on the
     * first volume; each fragment is checked when its volume is read.
     */
    tape: TapeReadTarget.optional(),
    /** With `tape`: the pieced file the previous volume's Read ended inside, and its hash so far. */
    carry: PieceCarry.optional(),
    /** A restore rehearsal instead of a read of the copy (edge-agent/rehearsal/). */
    rehearsal: RehearsalTask.optional(),
  })
  .strict();
export type VerifyTask = z.output<typeof VerifyTask>;

/** What a verify found: totals, and the problems in image order (`path (object at byte N): reason`), the first few. */
export const VerifyTaskResult = z
  .object({
    fragments: z.number().int().min(0),
    members: z.number().int().min(0),
    filesHashed: z.number().int().min(0),
    bytes: z.number().int().min(0),
    problemCount: z.number().int().min(0),
    problems: z.array(z.string()),
    /** A volume's Read that ended inside a pieced file whose next piece is on the next volume (older agents never send it). */
    carry: PieceCarry.optional(),
    /** Present when the task was a rehearsal (older agents never send it). */
    rehearsal: RehearsalResult.optional(),
  })
  .strict();
export type VerifyTaskResult = z.output<typeof VerifyTaskResult>;

/** The command envelope of the Verify step: one of the agent's runnable kinds (agent-command.ts), sent with a task token. */
export const VerifyCommand = z.object({ kind: z.literal('verify'), task: VerifyTask }).strict();
export type VerifyCommand = z.output<typeof VerifyCommand>;
