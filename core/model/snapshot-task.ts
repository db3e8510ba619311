import { z } from 'zod';
import { FrozenImage, SnapshotChoice } from './snapshot.ts';

/**
 * The agent commands of a job's frozen images (statemachines/backup-job.asl.json:
 * Snapshot before Stream, DeleteSnapshot on every path out of a granted job).
 * The broker builds both from the policy when it grants the job
 * (core/broker/broker.ts), so the agent never reads the policy.
 */

/**
 * Snapshot: freeze the volume of each selection (one image per volume;
 * selections on one volume share it) with the policy's method, or the one
 * `auto` picks from each selection's file system. `required`: a selection
 * that cannot be frozen ends the step with 156 (images already taken are
 * deleted); otherwise it is read live and the result says why.
 */
export const SnapshotTask = z
  .object({
    jobId: z.number().int().positive(),
    selections: z.array(z.string().startsWith('/')).min(1),
    choice: SnapshotChoice.exclude(['none']),
    required: z.boolean(),
    /** lvcreate -L of an LVM snapshot volume (the policy's `lvmSnapshotSize`); absent, the provider's default. */
    lvmSnapshotSize: z.string().optional(),
  })
  .strict();
export type SnapshotTask = z.output<typeof SnapshotTask>;

/**
 * DeleteSnapshot: remove every frozen image the agent recorded for the job
 * (its snapshot registry on the host), and `images` too when the sender
 * knows them. Idempotent: images already gone count as deleted. Sent by the
 * workflow on every path, and by the cloud janitor for a job whose
 * execution was stopped or timed out (then with no task token).
 */
export const DeleteSnapshotTask = z
  .object({
    jobId: z.number().int().positive(),
    images: z.array(FrozenImage).default([]),
  })
  .strict();
export type DeleteSnapshotTask = z.output<typeof DeleteSnapshotTask>;

export const DeleteSnapshotResult = z
  .object({
    /** Names of the images removed (or found gone already). */
    deleted: z.array(z.string()),
    /** Images that could not be removed, with the provider's reason; the agent's clean-up at its next start tries again. */
    failed: z.array(z.object({ name: z.string(), reason: z.string() }).strict()),
  })
  .strict();
export type DeleteSnapshotResult = z.output<typeof DeleteSnapshotResult>;
