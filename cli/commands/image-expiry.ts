import type { Command } from 'commander';
import { type Backend, type GlobalOptions, withBackend } from '../backend.ts';
import { note, printJson } from '../output.ts';
import { parseIsoTime } from '../time-option.ts';
import { wholeNumber } from '../number-option.ts';
import { UsageError } from '../usage-errors.ts';
import { expirationPlan, expireImageNow, runExpiration, setImageExpiry, type ExpirationDeps, type ExpirationRun } from '#core/catalog/expire-images.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { runAsJob } from '#core/jobs/lifecycle-job.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { cleanupFields, cleanupOutcome } from '#core/jobs/lifecycle-outcomes.ts';

const DAY_MS = 86_400_000;

/** The executor's ports from the CLI's backend: the catalog, jobs and media manager it talks to, storage opened from this machine. */
function expirationDeps(backend: Backend): ExpirationDeps {
  return { catalog: backend.catalog, config: backend.config, jobs: backend.jobs, media: backend.media, emm: backend.emm, openStorageUnit };
}

/**
 * `cairn images expire` (nbdelete, bpexpdate -d 0) and `cairn images
 * set-expiry` (bpexpdate -d), under `cairn images`.
 */
export function registerImageExpiry(images: Command): void {
  images
    .command('expire')
    .description('expire images past their retention now (what the scheduler tick does), or one image with --backup-id')
    .option('--backup-id <id>', 'expire this image now, whatever its date (refused when a later image needs it, unless --force)')
    .option('--force', 'with --backup-id: also expire every image that needs it (they cannot be restored without it)')
    .option('--dry-run', 'say what would be expired and kept, change nothing')
    .option('--json', 'print JSON')
    .action(async (options: { backupId?: string; force?: boolean; dryRun?: boolean; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      if (options.force && !options.backupId) throw new UsageError('--force goes with --backup-id ID', command);
      await withBackend(globals, async (backend) => {
        const now = backend.clock.now();
        const deps = expirationDeps(backend);
        if (options.backupId && options.dryRun) return report(await expireImageNow(deps, options.backupId, now, { force: options.force ?? false, dryRun: true }), { json, dryRun: true });
        // A run that changes something is an image-cleanup job (`cairn jobs`, the report), whatever it finds.
        const asJob = (expire: (signal: AbortSignal) => Promise<ExpirationRun>) =>
          runAsJob({ jobs: backend.jobs, now: () => backend.clock.now(), owner: backend.owner, timer: systemTimer }, 'image-cleanup', cleanupFields('command'), (job) => expire(job.signal), cleanupOutcome);
        if (options.backupId) {
          const backupId = options.backupId;
          const run = await asJob((signal) => expireImageNow(deps, backupId, now, { force: options.force ?? false, signal }));
          return report(run.result, { json, dryRun: false, jobId: run.jobId });
        }
        if (options.dryRun) {
          const plan = await expirationPlan(deps, now);
          if (json) return printJson({ dryRun: true, at: now.toISOString(), expire: plan.expire, kept: plan.kept });
          for (const e of plan.expire) console.log(`would expire ${e.backupId}: ${e.reason}`);
          for (const k of plan.kept) console.log(`${k.backupId}: past its expiration ${k.expiresAt}, ${k.reason}`);
          if (plan.expire.length === 0) console.log('nothing to expire');
          return;
        }
        const run = await asJob((signal) => runExpiration(deps, now, { signal }));
        return report(run.result, { json, dryRun: false, jobId: run.jobId });
      });
    });

  images
    .command('set-expiry')
    .description('change an image’s expiration date (like bpexpdate -d): an absolute --date, or --days from now')
    .requiredOption('--backup-id <id>', 'the image')
    .option('--date <time>', 'the new expiration, ISO 8601 (a past time expires it at the next cleanup)', parseIsoTime)
    .option('--days <n>', 'the new expiration, this many days from now (0: at the next cleanup)', wholeNumber)
    .option('--json', 'print JSON')
    .action(async (options: { backupId: string; date?: Date; days?: number; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if ((options.date === undefined) === (options.days === undefined)) throw new UsageError('give either --date TIME or --days N', command);
      await withBackend(globals, async (backend) => {
        const at = options.date ?? new Date(backend.clock.now().getTime() + options.days! * DAY_MS);
        const image = await setImageExpiry(expirationDeps(backend), options.backupId, at);
        // Whether a dependant keeps it past the new date: the same plan the cleanup follows.
        const kept = (await expirationPlan(backend, new Date(Math.max(at.getTime(), backend.clock.now().getTime())))).kept.find((k) => k.backupId === image.backupId);
        if (options.json ?? globals.json) return printJson({ backupId: image.backupId, expiresAt: image.expiresAt, ...(kept ? { keptPastExpiry: { neededBy: kept.neededBy, ...(kept.keptUntil ? { keptUntil: kept.keptUntil } : {}), reason: kept.reason } } : {}) });
        console.log(`image ${image.backupId} now expires ${image.expiresAt}`);
        if (kept) console.log(`  but it will be ${kept.reason}`);
      });
    });
}

/** Prints a run; exit code 1 when something could not be expired (it is tried again by the next cleanup). */
function report(run: ExpirationRun, how: { json: boolean | undefined; dryRun: boolean; jobId?: number }): void {
  if (run.problems.length > 0) process.exitCode = 1;
  if (how.json) return printJson({ dryRun: how.dryRun, ...(how.jobId === undefined ? {} : { jobId: how.jobId }), ...run });
  if (how.jobId !== undefined) note(`job ${how.jobId} (image-cleanup)`);
  for (const e of run.expired) {
    console.log(how.dryRun ? `would expire ${e.backupId}: ${e.reason}` : `expired ${e.backupId}: ${e.reason}; ${e.objectsDeleted} objects (${e.bytesDeleted} bytes) deleted${e.volumes.length ? `; off volume(s) ${e.volumes.join(', ')}` : ''}`);
  }
  for (const c of run.copiesExpired ?? []) console.log(`expired copy ${c.copyNumber} of ${c.backupId} on ${c.storageUnit}: ${c.reason}; ${c.objectsDeleted} objects (${c.bytesDeleted} bytes) deleted`);
  for (const k of run.kept) console.log(`${k.backupId}: past its expiration ${k.expiresAt}, ${k.reason}`);
  for (const v of run.recycled) console.log(`volume ${v.mediaId} returned from pool ${v.fromPool} to scratch`);
  if (run.deferred > 0) console.log(`${run.deferred} more image(s) to expire: run again`);
  if (run.expired.length === 0 && (run.copiesExpired ?? []).length === 0 && run.problems.length === 0) console.log('nothing to expire');
  for (const p of run.problems) note(`cairn: ${p}`);
}
