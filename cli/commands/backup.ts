import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Job } from '#core/model/job.ts';
import { type GlobalOptions, openBackend } from '../backend.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { backupOutcome, outcomeLines } from '../backup-outcome.ts';
import { exitCodeFor } from '../exit-code.ts';
import { wholeNumber } from '../number-option.ts';

export interface BackupOptions {
  client: string;
  path?: string[];
  policy?: string;
  schedule?: string;
  storageUnit?: string;
  retentionDays?: number;
}

function progressLine(job: Job): string {
  const p = job.progress;
  if (job.state === 'QUEUED') return `job ${job.jobId} QUEUED: ${job.waitingReason ?? 'waiting'}`;
  return `job ${job.jobId} ${job.state}: ${p.files} files, ${formatBytes(p.bytes)}, ${formatBytes(p.throughputBps)}/s${p.currentPath ? `  ${p.currentPath}` : ''}`;
}

/** `cairn backup`: an immediate manual backup (bpbackup -i), followed to DONE with progress. */
export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('run an immediate manual backup of a client and follow it to DONE (like bpbackup -i)')
    .requiredOption('--client <name>', 'client name')
    .option('--path <dir...>', 'absolute path(s) to back up (overrides the policy selections)')
    .option('--policy <name>', 'policy to run; without it the backup is a manual user backup')
    .option('--schedule <name>', 'schedule of the policy (default: its full schedule)')
    .option('--storage-unit <name>', 'storage unit (default: the policy\'s, or the defaultStorageUnit setting)')
    .option('--retention-days <n>', 'retention of the image', wholeNumber)
    .option('--json', 'print the result as JSON')
    .action(async (options: BackupOptions & { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const backend = await openBackend(globals);
      const json = options.json ?? globals.json;
      let timer: NodeJS.Timeout | undefined;
      try {
        const request = {
          client: options.client,
          policy: options.policy,
          schedule: options.schedule,
          storageUnit: options.storageUnit,
          retentionDays: options.retentionDays,
          selections: options.path?.map((p) => resolve(p)),
        };
        const run = await backend.runBackup(request, {
          onQueued: (job) => {
            if (!json) note(`job ${job.jobId} queued (policy ${job.policy}, schedule ${job.schedule}, client ${job.client})`);
            let last = '';
            timer = setInterval(() => {
              void backend.jobs.get(job.jobId).then((current) => {
                const line = current ? progressLine(current) : '';
                if (line && line !== last && !json) note(line);
                last = line;
              });
            }, 1000);
          },
        });
        clearInterval(timer);
        const outcome = await backupOutcome(backend, run);
        if (json) printJson(outcome);
        else {
          if (outcome.job) note(progressLine(outcome.job));
          for (const line of outcomeLines(outcome)) note(line);
        }
        process.exitCode = exitCodeFor(run.statusCode);
      } finally {
        clearInterval(timer);
        backend.close();
      }
    });
}
