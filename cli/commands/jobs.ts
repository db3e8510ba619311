import type { Command } from 'commander';
import { JobState } from '#core/model/job.ts';
import { describeStatus } from '#core/status-codes.ts';
import { NotFoundError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';
import { type GlobalOptions, openBackend } from '../backend.ts';
import { formatBytes, printJson, table } from '../output.ts';

/** `cairn jobs` (bpdbjobs): the job database, newest first. */
export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('list jobs, newest first (like bpdbjobs)')
    .option('--state <state>', 'QUEUED, ACTIVE or DONE')
    .option('--limit <n>', 'how many', (v) => Number.parseInt(v, 10), 50)
    .option('--json', 'print JSON')
    .action(async (options: { state?: string; limit: number; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const backend = await openBackend(globals);
      try {
        const state = options.state === undefined ? undefined : parseOrThrow(JobState, options.state.toUpperCase(), '--state');
        const list = await backend.jobs.list({ state, limit: options.limit });
        if (options.json ?? globals.json) return printJson(list);
        console.log(
          table(
            ['JOBID', 'STATE', 'STATUS', 'POLICY', 'SCHEDULE', 'CLIENT', 'FILES', 'BYTES', 'BACKUPID / WAITING', 'STARTED'],
            list.map((j) => [j.jobId, j.state, j.statusCode, j.policy, j.schedule, j.client, j.progress.files, formatBytes(j.progress.bytes), j.state === 'QUEUED' ? j.waitingReason : j.backupId, j.startedAt ?? j.queuedAt]),
          ),
        );
      } finally {
        backend.close();
      }
    });

  jobs
    .command('show <jobId>')
    .description('one job in detail')
    .option('--json', 'print JSON')
    .action(async (jobId: string, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const backend = await openBackend(globals);
      try {
        const job = await backend.jobs.get(Number(jobId));
        if (!job) throw new NotFoundError(`job ${jobId}`, 20);
        if (options.json ?? globals.json) return printJson(job);
        const lines: [string, unknown][] = [
          ['job id', job.jobId],
          ['state', job.state],
          ['status', job.statusCode === undefined ? '' : `${job.statusCode} (${describeStatus(job.statusCode)})`],
          ['attempt', job.attempt],
          ['waiting reason', job.waitingReason],
          ['policy / schedule', `${job.policy} / ${job.schedule} (${job.level})`],
          ['client', job.client],
          ['storage unit', job.storageUnit],
          ['selections', job.selections.join(', ')],
          ['backup id', job.backupId],
          ['files / bytes', `${job.progress.files} / ${formatBytes(job.progress.bytes)}`],
          ['throughput', `${formatBytes(job.progress.throughputBps)}/s`],
          ['buffer waits', `writer waited ${job.progress.writerWaits} times for data (client-bound), reader waited ${job.progress.readerWaits} times for buffers (media-bound)`],
          ['queued / started / ended', `${job.queuedAt} / ${job.startedAt ?? '-'} / ${job.endedAt ?? '-'}`],
          ['error', job.error],
          ['unreadable', job.unreadable.join('\n                          ')],
        ];
        for (const [k, v] of lines) if (v !== undefined && v !== '') console.log(`${k.padEnd(24)}  ${String(v)}`);
      } finally {
        backend.close();
      }
    });
}
