import { z } from 'zod';
import { Name } from './names.ts';

const common = {
  name: Name,
  /** Concurrent jobs the unit accepts; the broker never grants more slots. */
  maxConcurrentJobs: z.number().int().min(1).max(1000).default(4),
  /** Target size of one image fragment (a tar archive of its own). */
  fragmentSizeBytes: z.number().int().min(1024 * 1024).default(1024 * 1024 * 1024),
};

export const DiskStorageUnit = z.object({ ...common, kind: z.literal('disk'), path: z.string().min(1) }).strict();
export const S3StorageUnit = z
  .object({ ...common, kind: z.literal('s3'), bucket: z.string().min(3), prefix: z.string().default('') })
  .strict();

export const StorageUnit = z.discriminatedUnion('kind', [DiskStorageUnit, S3StorageUnit]);
export type StorageUnit = z.output<typeof StorageUnit>;
export type StorageUnitInput = z.input<typeof StorageUnit>;
