import { z } from 'zod';
import { Image } from './image.ts';
import { StorageUnit } from './storage-unit.ts';
import { TapeReadTarget } from './tape-task.ts';

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
  })
  .strict();
export type VerifyTaskResult = z.output<typeof VerifyTaskResult>;

/** The command envelope of the Verify step: one of the agent's runnable kinds (agent-command.ts), sent with a task token. */
export const VerifyCommand = z.object({ kind: z.literal('verify'), task: VerifyTask }).strict();
export type VerifyCommand = z.output<typeof VerifyCommand>;
