import { z } from 'zod';
import { Name } from './names.ts';
import { Duration } from './durations.ts';
import { BackupSelection } from './selection.ts';
import { SnapshotChoice } from './snapshot.ts';

export const BackupLevel = z.enum(['full', 'differential-incremental', 'cumulative-incremental']);
export type BackupLevel = z.output<typeof BackupLevel>;

export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
export type Weekday = z.output<typeof Weekday>;
export const weekdays: readonly Weekday[] = Weekday.options;

const LocalDate = z.iso.date();

/** A valid IANA time zone name, as the runtime's Intl knows them. */
export const TimeZone = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, 'an IANA time zone such as Europe/Berlin or UTC');

export const Retention = z.object({ days: z.number().int().min(0).max(36500) }).strict();

/**
 * A start window: on each of `days`, jobs may start from `start` (local time
 * in the policy's zone) for `duration`. A window may run past midnight.
 */
export const StartWindow = z
  .object({
    days: z.array(Weekday).min(1),
    start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM'),
    duration: Duration.pipe(z.number().max(7 * 86_400, 'a window lasts at most 7 days')),
  })
  .strict();
export type StartWindow = z.output<typeof StartWindow>;

/** Calendar-based run days: a schedule runs once on each run day, inside its window. */
export const Calendar = z
  .object({
    weekdays: z.array(Weekday).default([]),
    daysOfMonth: z.array(z.number().int().min(1).max(31)).default([]),
    lastDayOfMonth: z.boolean().default(false),
    dates: z.array(LocalDate).default([]),
    excludeDates: z.array(LocalDate).default([]),
  })
  .strict()
  .refine((c) => c.weekdays.length + c.daysOfMonth.length + c.dates.length > 0 || c.lastDayOfMonth, 'a calendar needs at least one run day');
export type Calendar = z.output<typeof Calendar>;

export const Schedule = z
  .object({
    name: Name,
    type: BackupLevel,
    /** Frequency-based: due when this much time passed since the last success (`1d`, `12h`, `1w`, or seconds). */
    frequency: Duration.optional(),
    /** Calendar-based: due once on each run day. */
    calendar: Calendar.optional(),
    windows: z.array(StartWindow).default([]),
    retention: Retention.default({ days: 14 }),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.frequency !== undefined && s.calendar !== undefined) ctx.addIssue({ code: 'custom', path: ['calendar'], message: 'a schedule is frequency-based or calendar-based, not both' });
    if ((s.frequency !== undefined || s.calendar !== undefined) && s.windows.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['windows'], message: 'a scheduled backup needs at least one start window (none: it would never start)' });
    }
  });
export type Schedule = z.output<typeof Schedule>;
export type ScheduleInput = z.input<typeof Schedule>;

/**
 * Frozen images (NetBackup's snapshot options): how the agent freezes each
 * selection's file system before reading it. `auto` picks the method from the
 * file system of each selection; `none` reads the live file system. A
 * required snapshot that cannot be taken ends the job with 156; otherwise the
 * job reads that selection live and says so in its details.
 */
const policySnapshotFields = {
  snapshot: SnapshotChoice.default('none'),
  snapshotRequired: z.boolean().default(false),
  /** The copy-on-write size of an LVM snapshot volume: a percentage (`10%ORIGIN`, `20%FREE`: lvcreate --extents) or a size (`512M`, `2G`: --size); absent, 10%ORIGIN. */
  lvmSnapshotSize: z
    .string()
    .regex(/^(\d+%(ORIGIN|VG|FREE|PVS)|\d+(\.\d+)?[bBsSkKmMgGtTpPeE]?)$/, 'a percentage such as 10%ORIGIN or a size such as 512M or 2G (lvcreate --extents / --size)')
    .optional(),
};

function checkSnapshotFields(policy: { snapshot: SnapshotChoice; snapshotRequired: boolean }, ctx: z.RefinementCtx): void {
  if (policy.snapshotRequired && policy.snapshot === 'none') ctx.addIssue({ code: 'custom', path: ['snapshotRequired'], message: 'a required snapshot needs a snapshot method (auto, btrfs, lvm or zfs), not none' });
}

/**
 * Scheduled verification (bpverify run by a policy): the latest image of each
 * of the policy's clients is verified when it has not been yet, and again
 * every `frequency` (core/schedule/verify-due.ts), starting only inside the
 * windows. Absent: the policy schedules no verify.
 */
export const VerifySchedule = z
  .object({
    frequency: Duration,
    windows: z.array(StartWindow).min(1, 'a scheduled verify needs at least one start window (none: it would never start)'),
  })
  .strict();
export type VerifySchedule = z.output<typeof VerifySchedule>;

/**
 * A scratch directory on the client for restore rehearsals: absolute, no
 * `.` or `..` segment (the directory a rehearsal empties must be the one
 * written), and never `/` itself.
 */
export const ScratchDirectory = z
  .string()
  .min(1, 'an absolute directory on the client')
  .refine((dir) => dir.startsWith('/'), 'an absolute directory on the client (it starts with /)')
  .refine((dir) => !dir.split('/').some((segment) => segment === '..' || segment === '.'), 'no . or .. segments (the scratch directory must be named as it is)')
  .refine((dir) => dir.replace(/\/+/g, '/') !== '/', 'not / itself: a rehearsal writes and removes its directory under the scratch directory')
  .refine((dir) => !dir.includes('\0'), 'no NUL byte');

/** How many regular files a rehearsal restores: a positive count, or `all` (the whole tree is restored). */
export const RehearsalSample = z.union([z.number().int('a whole number of files').positive('at least 1 file'), z.literal('all')], { error: 'a positive whole number of files, or all' });
export type RehearsalSample = z.output<typeof RehearsalSample>;

/** Files a rehearsal restores when the policy does not say. */
export const DEFAULT_REHEARSAL_SAMPLE = 20;

/**
 * Restore rehearsals (core/schedule/rehearsal-due.ts): the latest image of
 * each client is restored, a sample of its files or the whole tree, into a
 * fresh directory under `scratch` on the client, every restored file
 * compared with the index, and the directory removed. Absent: the policy
 * schedules none. `scratch` absent: `$CAIRN_HOME/rehearsals` standalone,
 * the agent state directory's `rehearsals/` on an agent host.
 */
export const RehearsalSchedule = z
  .object({
    frequency: Duration,
    windows: z.array(StartWindow).min(1, 'a scheduled rehearsal needs at least one start window (none: it would never start)'),
    sample: RehearsalSample.default(DEFAULT_REHEARSAL_SAMPLE),
    scratch: ScratchDirectory.optional(),
  })
  .strict();
export type RehearsalSchedule = z.output<typeof RehearsalSchedule>;

/**
 * Scheduled catalog backups (NetBackup's catalog backup policy, NetWorker's
 * bootstrap): the whole catalog is backed up as an image of its own, as
 * `cairn catalog backup` does, when the last one is at least `frequency`
 * old and a window is open (core/schedule/catalog-backup-due.ts); each
 * writes a new DR file under $CAIRN_HOME/dr/ (in the cloud, where the
 * scheduler starts it as a catalog-job execution: an object next to the
 * image, which must be on an S3 unit). Absent: the policy schedules no
 * catalog backup.
 */
export const CatalogBackupSchedule = z
  .object({
    frequency: Duration,
    windows: z.array(StartWindow).min(1, 'a scheduled catalog backup needs at least one start window (none: it would never start)'),
    /** A disk or S3 unit, not one under $CAIRN_HOME; absent: the policy's storage unit. */
    storageUnit: Name.optional(),
  })
  .strict();
export type CatalogBackupSchedule = z.output<typeof CatalogBackupSchedule>;

/**
 * A catalog check on a schedule (nsrck run by savegrp, NetBackup's
 * bpdbm -consistency in a maintenance window): like `catalogBackup`, on a
 * policy, so it has the policy's windows, time zone and active switch, and
 * one check of the one catalog runs per tick whichever policy asks
 * (core/schedule/catalog-check-due.ts). `repair` fixes what is safe, as
 * `cairn catalog check --repair`; orphans younger than `grace` (default
 * 24h) are reported, never deleted.
 */
export const CatalogCheckSchedule = z
  .object({
    frequency: Duration,
    windows: z.array(StartWindow).min(1, 'a scheduled catalog check needs at least one start window (none: it would never start)'),
    repair: z.boolean({ error: 'repair is true or false' }).optional(),
    grace: Duration.optional(),
  })
  .strict();
export type CatalogCheckSchedule = z.output<typeof CatalogCheckSchedule>;

/**
 * A further copy of each image the policy writes (NetBackup's storage
 * lifecycle policy: backup to disk now, duplicate within N hours, each copy
 * with its own retention). The scheduler tick duplicates an image due for
 * it (core/schedule/duplicate-due.ts); the copy expires on its own
 * retention, counted from the image's creation.
 */
export const PolicyCopy = z
  .object({
    storageUnit: Name,
    /** How long after the backup the copy should exist (`6h`, `1d`); absent: at once. */
    within: Duration.optional(),
    retention: Retention,
  })
  .strict();
export type PolicyCopy = z.output<typeof PolicyCopy>;

export const PolicyClient = z
  .object({
    name: Name,
    /** Lower is contacted first (NetWorker Client Priority). */
    priority: z.number().int().min(1).max(1000).default(500),
    /** The SSM managed-instance id (mi-… / i-…) of the client's edge agent, for the cloud runtime. */
    agentInstanceId: z.string().optional(),
  })
  .strict();

/**
 * How a policy's data reaches the image (NetBackup's "Perform offhost
 * backup"): `file`, the client reader; `offhost`, the agent maps the frozen
 * image's files to their extents on its block device and a data mover
 * process reads those device ranges (edge-agent/offhost/, docs/offhost.md).
 * Offhost needs a frozen image on a block device with ext2/3/4 or xfs.
 */
export const BackupMethod = z.enum(['file', 'offhost']);
export type BackupMethod = z.output<typeof BackupMethod>;

export const Policy = z
  .object({
    name: Name,
    active: z.boolean().default(true),
    /** Higher runs first, as NetBackup's job priority. */
    priority: z.number().int().min(0).max(99999).default(0),
    maxJobsPerPolicy: z.number().int().min(1).optional(),
    /**
     * Allow multiple data streams (NetBackup's policy attribute): one child
     * job per selection, and per local file system for `ALL`, run in parallel
     * up to `maxJobsPerPolicy` and the `maxJobsPerClient` setting, under one
     * parent job (core/jobs/data-streams.ts). Off: one job reads every selection.
     */
    multipleDataStreams: z.boolean().default(false),
    /** The zone start windows and calendar days are read in. */
    timeZone: TimeZone.default('UTC'),
    clients: z.array(PolicyClient).min(1),
    /** Absolute paths on the client, or `ALL`: every local file system of the client (edge-agent/probe/). */
    selections: z.array(BackupSelection).min(1),
    exclude: z.array(z.string()).default([]),
    /**
     * Whether the walk goes into file systems mounted under a selection
     * (bpbkar's Cross mount points). false: a directory on another device
     * than its selection's is backed up as a directory, without its contents.
     */
    crossMountPoints: z.boolean().default(false),
    schedules: z.array(Schedule).min(1),
    storageUnit: Name,
    /** Absent: `file`. */
    backupMethod: BackupMethod.optional(),
    /** Verify the latest images on a schedule of their own (VerifySchedule); absent: never. */
    verify: VerifySchedule.optional(),
    /** Restore rehearsals of the latest images on a schedule of their own (RehearsalSchedule); absent: never. */
    rehearsal: RehearsalSchedule.optional(),
    /** Back up the catalog on a schedule of its own (CatalogBackupSchedule); absent: never. */
    catalogBackup: CatalogBackupSchedule.optional(),
    /** Check the catalog on a schedule of its own (CatalogCheckSchedule); absent: only when an administrator runs `cairn catalog check`. */
    catalogCheck: CatalogCheckSchedule.optional(),
    /** Copies 2, 3, ... of every image, each on its own unit with its own retention; absent: one copy. */
    copies: z.array(PolicyCopy).max(9).optional(),
    ...policySnapshotFields,
  })
  .strict()
  .superRefine((policy, ctx) => {
    checkSnapshotFields(policy, ctx);
    const duplicates = (names: string[], path: string, what: string): void => {
      const seen = new Set<string>();
      names.forEach((name, i) => {
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [path, i, 'name'], message: `duplicate ${what} "${name}"` });
        seen.add(name);
      });
    };
    duplicates(policy.schedules.map((s) => s.name), 'schedules', 'schedule name');
    duplicates(policy.clients.map((c) => c.name), 'clients', 'client');
  });
export type Policy = z.output<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;
