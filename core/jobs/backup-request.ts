import { z } from 'zod';
import { BackupLevel } from '../model/policy.ts';
import { Name } from '../model/names.ts';
import { BackupSelection } from '../model/selection.ts';

/**
 * What starts a backup job: a policy's schedule for one client (scheduled or
 * `cairn backup --policy`), or a manual user backup of explicit paths, like
 * `bpbackup -i` / `bpbackup -p`.
 */
export const BackupRequest = z
  .object({
    client: Name,
    policy: Name.optional(),
    schedule: Name.optional(),
    level: BackupLevel.optional(),
    /** Overrides the policy's selections; required without a policy. */
    selections: z.array(BackupSelection).min(1).optional(),
    /** Required without a policy unless the `defaultStorageUnit` setting names one. */
    storageUnit: Name.optional(),
    retentionDays: z.number().int().min(0).optional(),
    /** Set by the scheduler: the window opening, the due instant and the execution name this job belongs to. */
    windowStart: z.iso.datetime({ offset: true }).optional(),
    windowEnd: z.iso.datetime({ offset: true }).optional(),
    dueAt: z.iso.datetime({ offset: true }).optional(),
    executionName: z.string().max(80).optional(),
    /** Who runs the job (for orphan detection in the standalone runtime). */
    owner: z.string().optional(),
    /** Set for a stream of a multiple-data-streams job: its parent job. */
    parentJobId: z.number().int().positive().optional(),
  })
  .strict();
export type BackupRequest = z.output<typeof BackupRequest>;

/** The policy name manual backups without a policy are recorded under. */
export const MANUAL_POLICY = 'manual';
export const MANUAL_SCHEDULE = 'user';
