import { z } from 'zod';
import { BufferSettings } from './model/task.ts';
import type { ConfigStore } from './ports/config-store.ts';
import { describeIssues, parseOrThrow } from './validation.ts';
import { ValidationError } from './errors.ts';
import { webhookUrlProblem } from './report/webhook-url.ts';

const ErrorThreshold = z.object({ errors: z.number().int().min(1).max(1000), withinHours: z.number().int().min(1).max(720) }).strict();

/** Global settings (bpconfig), each stored under its own key in the ConfigStore. */
export const Settings = z.object({
  defaultStorageUnit: z.string().optional(),
  defaultRetentionDays: z.number().int().min(0).default(14),
  /** How long a job waits before asking the broker again for resources, at first: the wait grows with the time waited (broker/resource-retry.ts). */
  resourceRetrySeconds: z.number().int().min(1).max(3600).default(30),
  /** Job Retry Delay: how long a failed job waits before its next attempt. */
  jobRetryDelaySeconds: z.number().int().min(0).max(86_400).default(600),
  /** Backup Tries: at most `tries` attempts of a job within `withinHours`. */
  backupTries: z.object({ tries: z.number().int().min(1).max(100), withinHours: z.number().int().min(1).max(720) }).strict().default({ tries: 2, withinHours: 12 }),
  /** `cairn schedule suspend`: the scheduler starts nothing while set. */
  schedulerSuspended: z.boolean().default(false),
  /** Media error threshold: a volume with `errors` write, read or position errors within `withinHours` is FROZEN (core/media/error-policy.ts). */
  mediaErrorFreeze: ErrorThreshold.default({ errors: 3, withinHours: 12 }),
  /** Drive error threshold: a drive with `errors` errors within `withinHours` goes DOWN (core/media/error-policy.ts). */
  driveErrorDown: ErrorThreshold.default({ errors: 3, withinHours: 12 }),
  /**
   * Media mount timeout: how long a tape job whose volume filled waits for
   * the next writable volume of its pool (spanning) before it fails with 96;
   * earlier when its window closes (core/broker/next-volume.ts).
   */
  mediaMountTimeoutSeconds: z.number().int().min(1).max(86_400).default(1800),
  /**
   * Maximum jobs per client (NetBackup's global attribute): how many backups
   * of one client run at once (the broker keeps the next one queued:
   * broker/client-job-limit.ts), and so how many streams of one
   * multiple-data-streams job, besides the policy's maxJobsPerPolicy. Unset:
   * no limit (NetBackup's default is 1, which would run every stream one
   * after the other).
   */
  maxJobsPerClient: z.number().int().min(1).max(1000).optional(),
  buffers: BufferSettings.default({ count: 16, sizeBytes: 256 * 1024 }),
  /**
   * Standalone: where each scheduler run's completion report is POSTed as
   * JSON (local/run-report.ts). https:, or http: to this machine only
   * (core/report/webhook-url.ts). Unset: none is sent.
   */
  reportWebhookUrl: z
    .string()
    .superRefine((url, ctx) => {
      const problem = webhookUrlProblem(url);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${url}: ${problem}` });
    })
    .optional(),
});
export type Settings = z.output<typeof Settings>;
export const settingKeys = Object.keys(Settings.shape) as (keyof Settings)[];

export async function loadSettings(config: ConfigStore): Promise<Settings> {
  const raw: Record<string, unknown> = {};
  for (const key of settingKeys) {
    const value = await config.getSetting(key);
    if (value !== undefined) raw[key] = value;
  }
  return parseOrThrow(Settings, raw, 'settings');
}

/** Validates one setting before it is stored, so a bad value never reaches a job. */
export async function saveSetting(config: ConfigStore, key: string, value: unknown): Promise<void> {
  if (!(settingKeys as string[]).includes(key)) throw new ValidationError('unknown setting', [`${key}: not a setting (known: ${settingKeys.join(', ')})`]);
  const field = Settings.shape[key as keyof Settings];
  const parsed = field.safeParse(value);
  // Problems are named from the setting down (`buffers.count: ...`), with the value that was refused.
  if (!parsed.success) throw new ValidationError(`invalid setting ${key} ${JSON.stringify(value)}`, describeIssues(parsed.error, key), { cause: parsed.error });
  await config.putSetting(key, parsed.data);
}
