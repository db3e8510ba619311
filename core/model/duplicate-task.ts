import { z } from 'zod';
import { Image, ImageCopy } from './image.ts';
import { IsoTime } from './names.ts';
import { StorageUnit } from './storage-unit.ts';

/**
 * A duplicate job's Copy step (duplicate-job.asl.json): the agent writes copy
 * `copyNumber` of `image` to `storageUnit`, read from copy `fromCopy` on
 * `fromStorageUnit` (edge-agent/duplicate/write-copy.ts: every object
 * copied and checked against the catalog record, the manifest written last,
 * the copy read back whole). It catalogues nothing: the Record step adds the
 * copy the agent answers with to the image record. The catalog record
 * travels with the task, as a verify's does: it is the root of trust the
 * agent checks the source against. Disk and S3 units only: the cloud
 * duplicate job reserves no drive (core/jobs/duplicate-job.ts refuses tape).
 */
export const DuplicateTask = z
  .object({
    jobId: z.number().int().positive(),
    image: Image,
    fromCopy: z.number().int().positive(),
    fromStorageUnit: StorageUnit,
    /** The unit the new copy goes to. */
    storageUnit: StorageUnit,
    copyNumber: z.number().int().positive(),
    /** The new copy's own retention end; absent: it follows the image's. */
    expiresAt: IsoTime.optional(),
  })
  .strict();
export type DuplicateTask = z.output<typeof DuplicateTask>;

/** What the agent wrote and read back: the copy as the catalog is to describe it, and the objects and bytes copied. */
export const DuplicateTaskResult = z
  .object({
    copy: ImageCopy,
    objects: z.number().int().min(0),
    bytes: z.number().int().min(0),
  })
  .strict();
export type DuplicateTaskResult = z.output<typeof DuplicateTaskResult>;

/** The command envelope of the Copy step: one of the agent's runnable kinds (agent-command.ts), sent with a task token. */
export const DuplicateCommand = z.object({ kind: z.literal('duplicate'), task: DuplicateTask }).strict();
export type DuplicateCommand = z.output<typeof DuplicateCommand>;
