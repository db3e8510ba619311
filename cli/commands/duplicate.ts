import type { Command } from 'commander';
import { duplicateAsJob } from '#local/duplicate-job.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { positiveNumber } from '../number-option.ts';
import { formatBytes, note, printJson } from '../output.ts';

interface DuplicateCommandOptions {
  backupId: string;
  to: string;
  fromCopy?: number;
  retentionDays?: number;
  json?: boolean;
}

/** How often progress is shown, at most. */
const PROGRESS_MS = 1000;

/**
 * `cairn duplicate` (bpduplicate): copies an image's primary copy (or
 * `--from-copy N`) to another disk or S3 storage unit as its next copy,
 * verified, then catalogued (edge-agent/duplicate/), as a `duplicate` job
 * (`cairn jobs` shows it; a failure ends it with its status); standalone,
 * also to a tape unit (a drive and volumes reserved through the broker's
 * rules, the copy read back from tape). Runs in this process
 * in both runtimes (`cairn --aws duplicate` reads and writes S3 with the
 * operator's credentials), showing progress on stderr. Exit 0 when the copy
 * is catalogued (or was already there), 2 otherwise.
 */
export function registerDuplicate(program: Command): void {
  program
    .command('duplicate')
    .description('copy an image to another storage unit as copy 2, 3, ... (like bpduplicate)')
    .requiredOption('--backup-id <id>', 'the image to duplicate')
    .requiredOption('--to <stu>', 'the storage unit the new copy goes to (disk, S3, or tape in the standalone runtime)')
    .option('--from-copy <n>', 'the copy to read (default: the primary)', positiveNumber)
    .option('--retention-days <n>', "the new copy's own retention, in days from now (default: the image's expiration)", positiveNumber)
    .option('--json', 'print JSON')
    .action(async (options: DuplicateCommandOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      await withBackend(globals, async (backend) => {
        const now = backend.clock.now();
        let shown = 0;
        const onWait = (reason: string): void => {
          if (!json) note(`  ${reason}`);
        };
        const { jobId, result } = await duplicateAsJob(
          { ...((await backend.duplicateDeps?.({ onWait })) ?? { catalog: backend.catalog, config: backend.config, openStorageUnit }), jobs: backend.jobs, now: () => backend.clock.now(), owner: backend.owner, timer: systemTimer },
          {
            backupId: options.backupId,
            to: options.to,
            ...(options.fromCopy === undefined ? {} : { fromCopy: options.fromCopy }),
            ...(options.retentionDays === undefined ? {} : { expiresAt: new Date(now.getTime() + options.retentionDays * 86_400_000).toISOString() }),
            onProgress: (p) => {
              if (json || (Date.now() - shown < PROGRESS_MS && p.current !== 'verifying')) return;
              shown = Date.now();
              note(p.current === 'verifying' ? `  ${p.objects} objects, ${formatBytes(p.bytes)} written: verifying the copy` : `  ${p.objects} objects, ${formatBytes(p.bytes)}: ${p.current}`);
            },
          },
        );
        if (json) return printJson({ ...result, jobId });
        note(
          result.alreadyPresent
            ? `job ${jobId}: image ${result.backupId} already has copy ${result.copyNumber} on ${result.storageUnit}: nothing catalogued`
            : `job ${jobId}: image ${result.backupId}: copy ${result.copyNumber} on ${result.storageUnit} (from copy ${result.fromCopy})${result.volumes ? ` on volumes ${result.volumes.join(', ')}` : ''}, ${result.objects} objects, ${formatBytes(result.bytes)}, verified; expires ${result.expiresAt}`,
        );
      });
    });
}
