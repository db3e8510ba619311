import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { JobState, imageWrittenBy, type RestoreJob } from '#core/model/job.ts';
import { describeStatus } from '#core/status-codes.ts';
import { NotFoundError } from '#core/errors.ts';
import { parseOrThrow } from '#core/validation.ts';
import { bottleneckOf, type Bottleneck } from '#core/jobs/bottleneck.ts';
import type { Job } from '#core/model/job.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { formatBytes, note, printJson, table } from '../output.ts';
import { positiveNumber } from '../number-option.ts';
import { backupOutcome, outcomeLines } from '../backup-outcome.ts';
import { exitCodeFor } from '../exit-code.ts';
import { jobWithoutErrnoText } from '../errno-text.ts';
import { formatUsd, type CostLine, type JobCost } from '#core/cost/job-cost.ts';
import { costOf } from '../job-cost-of.ts';
import { restartJob } from '../job-restart.ts';
import { groupStreams, streamsCell } from '../job-streams.ts';
import { cancelJobAndStreams } from '#core/jobs/data-streams.ts';
import { isLifecycleJob, lifecycleCell, lifecycleLines } from '../lifecycle-job-lines.ts';

function jobsTable(list: Job[]): string {
  return table(
    ['JOBID', 'STATE', 'STATUS', 'TRY', 'POLICY', 'SCHEDULE', 'CLIENT', 'FILES', 'BYTES', 'RATE', 'BACKUPID / WAITING', 'STARTED'],
    // A multiple-data-streams parent is followed by its streams, indented under it.
    groupStreams(list).map(({ job: j, stream }) => [stream ? `  └ ${j.jobId}` : j.jobId, j.state, j.statusCode, j.attempt, j.type === 'backup' ? j.policy : '-', j.type === 'backup' ? j.schedule : j.type === 'verify' && j.rehearsal ? 'rehearsal' : j.type, j.client, j.progress.files, formatBytes(j.progress.bytes), j.state === 'ACTIVE' ? `${formatBytes(j.progress.throughputBps)}/s` : '', j.type === 'restore' ? restoreCell(j) : j.type === 'verify' ? `${j.image}${j.problemCount > 0 ? ` (${j.problemCount} problems)` : ''}` : isLifecycleJob(j) ? lifecycleCell(j) : j.state === 'QUEUED' || (j.state === 'ACTIVE' && j.waitingReason) ? j.waitingReason : (streamsCell(j) ?? shownBackupId(j)), j.startedAt ?? j.queuedAt]),
  );
}

/**
 * A job claims its backup id before it writes a byte; a job that failed
 * leaves no image under it, so the views do not show the id as if one existed.
 */
function shownBackupId(job: Job): string | undefined {
  const backupId = imageWrittenBy(job);
  if (backupId === undefined) return undefined;
  return job.state === 'DONE' && (job.statusCode ?? 2) > 1 ? '-' : backupId;
}

/** The verdict, then the figures behind it (like NetBackup's "waited for full buffer" lines, interpreted). */
function bottleneckLines(bottleneck: Bottleneck | undefined): [string, unknown][] {
  if (!bottleneck) return [];
  return [
    ['bottleneck', `${bottleneck.label}: ${bottleneck.because}`],
    ['  figures', bottleneck.figures],
  ];
}

/**
 * A restore job's cell of the jobs table: why it waits (also while ACTIVE,
 * between two volumes), else its image and the volumes it reads, the one
 * being read marked with `*` while it runs.
 */
function restoreCell(job: RestoreJob): string {
  if (job.state !== 'DONE' && job.waitingReason) return job.waitingReason;
  const image = 'backupId' in job.source ? job.source.backupId : `tree at ${job.source.pointInTime}`;
  const current = job.state === 'ACTIVE' ? job.volumes.findIndex((v) => !v.read) : -1;
  const volumes = job.volumes.map((v, i) => (i === current ? `*${v.mediaId}` : v.mediaId)).join(',');
  return volumes ? `${image} from ${volumes}` : image;
}

/** The lines of `jobs show` that only a restore job has. */
function restoreLines(job: RestoreJob): [string, unknown][] {
  const source = 'backupId' in job.source ? `image ${job.source.backupId}` : `the tree at ${job.source.pointInTime}${job.source.policy ? ` (policy ${job.source.policy})` : ''}`;
  return [
    ['kind', 'restore'],
    ['client', job.client],
    ['from', source],
    ['to', `${job.target.client}:${job.target.directory} (existing entries: ${job.target.existing})`],
    ['paths', job.paths.length > 0 ? job.paths.join(', ') : 'all'],
    ...(job.volumes.length > 0 ? [['volumes', job.volumes.map((v) => `${v.mediaId} (fragments ${v.fragments.join(', ')}${v.read ? `, read: ${v.files ?? 0} entries, ${formatBytes(v.bytes ?? 0)}` : ''})`).join('\n                          ')] as [string, unknown]] : []),
    ...(job.drives && job.drives.length > 0 ? [['drives', job.drives.join(', ')] as [string, unknown]] : []),
    ...(job.notRestored.length > 0 ? [['not restored', job.notRestored.join('\n                          ')] as [string, unknown]] : []),
  ];
}

/** What the standalone runtime says in place of a cost: it runs no billed cloud service (an S3 storage unit's requests are not counted). */
const STANDALONE_COST = 'none: the standalone runtime runs no Step Functions, Lambda or DynamoDB (the requests of an S3 storage unit are not counted)';

/** One line of the cost section: the count, then its price (or why there is none). */
function costLine(line: CostLine, cost: JobCost): [string, unknown] {
  const quantity = line.unit === 'bytes' ? formatBytes(line.quantity) : `${Number(line.quantity.toFixed(4))} ${line.unit}`;
  const price = line.unknown !== undefined ? `unknown: ${line.unknown}` : line.usd === undefined ? `price ${cost.priceNote}` : `${line.atLeast ? 'at least ' : ''}${formatUsd(line.usd)}`;
  return [`  ${line.service}`, `${line.what}: ${line.unknown !== undefined ? '?' : quantity}  ${price}`];
}

/** The cost section of `jobs show`: measured counts, their list price, what is not measured. */
function costLines(priced: { cost: JobCost } | undefined): [string, unknown][] {
  if (priced === undefined) return [['cloud cost', STANDALONE_COST]];
  const { cost } = priced;
  const total = cost.totalUsd === undefined ? `unknown for ${cost.region}` : `${cost.totalAtLeast ? 'at least ' : ''}${formatUsd(cost.totalUsd)}`;
  const storage = cost.storagePerMonthUsd === undefined ? '' : `; the bytes written cost ${formatUsd(cost.storagePerMonthUsd)} a month in S3 Standard`;
  return [
    ['cost', `${cost.region}, list prices of ${cost.pricesAsOf} (core/cost/prices.ts)`],
    ...cost.lines.map((line) => costLine(line, cost)),
    ['  total', `${total}${storage}`],
    ['  not measured', cost.notMeasured.join('\n                          ')],
  ];
}

/** `cairn jobs` (bpdbjobs): the job database, newest first. */
export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('list jobs, newest first (like bpdbjobs)')
    .option('--state <state>', 'QUEUED, ACTIVE or DONE')
    .option('--limit <n>', 'how many', positiveNumber, 50)
    .option('--watch [seconds]', 'redraw every few seconds until interrupted, like the Activity Monitor')
    .option('--json', 'print JSON')
    .action(async (options: { state?: string; limit: number; watch?: boolean | string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const state = options.state === undefined ? undefined : parseOrThrow(JobState, options.state.toUpperCase(), '--state');
        const json = options.json ?? globals.json;
        const show = async (): Promise<void> => {
          const list = (await backend.jobs.list({ state, limit: options.limit })).map(jobWithoutErrnoText);
          if (json) return printJson(list);
          if (options.watch) process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n`);
          console.log(jobsTable(list));
        };
        await show();
        if (!options.watch) return;
        const seconds = typeof options.watch === 'string' ? Math.max(1, Number(options.watch) || 2) : 2;
        const timer = setInterval(() => void show(), seconds * 1000);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        clearInterval(timer);
      });
    });

  jobs
    .command('cancel')
    .argument('<jobId>', 'job id', positiveNumber)
    .description('end a queued or active job with status 150 and release its resources (like bpdbjobs -cancel)')
    .option('--json', 'print JSON')
    .action(async (jobId: number, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        // A multiple-data-streams parent takes its running streams with it.
        const result = await cancelJobAndStreams(backend, jobId, backend.clock.now(), `${userInfo().username}@${hostname()}, cairn jobs cancel`);
        if (options.json ?? globals.json) printJson(result);
        else console.log(`job ${jobId} cancelled: status 150 (${describeStatus(150)})${result.released ? ', resources released' : ''}${result.streamsCancelled?.length ? `; its streams ${result.streamsCancelled.join(', ')} cancelled too` : ''}`);
      });
    });

  jobs
    .command('restart')
    .argument('<jobId>', 'job id', positiveNumber)
    .description('run an ended job again as a new job with the same policy, client, schedule and selections (like bpdbjobs -restart); once: a job restarted already is refused, naming its restart')
    .option('--json', 'print JSON')
    .action(async (jobId: number, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      await withBackend(globals, async (backend) => {
        const run = await restartJob(backend, jobId, `${userInfo().username}@${hostname()}, cairn jobs restart`, { onQueued: (ref) => (json ? undefined : note(`job ${jobId} restarted as job ${ref.jobId}`)) });
        const outcome = await backupOutcome(backend, run);
        if (json) printJson({ restartedFrom: jobId, ...outcome });
        else for (const line of outcomeLines(outcome)) note(line);
        process.exitCode = exitCodeFor(run.statusCode);
      });
    });

  jobs
    .command('show')
    .argument('<jobId>', 'job id', positiveNumber)
    .description('one job in detail')
    .option('--json', 'print JSON')
    .action(async (jobId: number, options: { json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await withBackend(globals, async (backend) => {
        const record = await backend.jobs.get(jobId);
        if (!record) throw new NotFoundError('job', jobId);
        const job = jobWithoutErrnoText(record);
        // Only a backup moves data through the buffer pool; the verdict is about that data path.
        const bottleneck = job.type === 'backup' && job.state !== 'QUEUED' ? bottleneckOf(job.progress) : undefined;
        const priced = await costOf(backend, record);
        if (options.json ?? globals.json) {
          const cost = priced === undefined ? { cost: { runtime: 'standalone', note: STANDALONE_COST } } : { usage: priced.usage, cost: priced.cost };
          return printJson({ ...job, ...(bottleneck ? { bottleneck } : {}), ...cost });
        }
        const lines: [string, unknown][] = [
          ['job id', job.jobId],
          ['state', job.state],
          ['status', job.statusCode === undefined ? '' : `${job.statusCode} (${describeStatus(job.statusCode)})`],
          ['attempt', job.attempt],
          ['waiting reason', job.waitingReason],
        ];
        if (job.type === 'restore') lines.push(...restoreLines(job));
        else if (job.type === 'verify') lines.push(['client', job.client], ['image', job.image], ['storage unit', job.storageUnit], ['volumes', job.volumes?.map((v) => v.mediaId).join(', ')], ['drives', job.drives?.join(', ')], ['problems', job.problemCount > 0 ? `${job.problemCount}, first: ${job.problems[0] ?? ''}` : undefined]);
        else if (isLifecycleJob(job)) lines.push(...lifecycleLines(job));
        else lines.push(
          ['policy / schedule', `${job.policy} / ${job.schedule} (${job.level})`],
          ['client', job.client],
          ['storage unit', job.storageUnit],
          ['selections', job.selections.join(', ')],
          ['backup id', shownBackupId(job) === '-' ? `none (${job.backupId} was claimed; the job ended with status ${job.statusCode}, so no image has it)` : job.backupId],
          // A tape job: every volume it was given, in order (spanning adds one at each end of media).
          ['volumes', job.volumes?.join(', ')],
          ['drives', job.drives?.join(', ')],
          // Multiple data streams: a parent lists its streams' jobs, a stream names its parent.
          ['streams', job.childJobIds?.join(', ')],
          ['parent job', job.parentJobId],
        );
        // A restore rehearsal (a verify-kind job): what it sampled, checked and where it restored to.
        if (job.type === 'verify' && job.rehearsal) {
          const r = job.rehearsal;
          lines.push(
            ['rehearsal', `sample ${r.sample}${r.sampleSize === undefined ? '' : ` (${r.sampleSize} files)`}, ${r.filesChecked ?? 0} checked`],
            ['restored from', r.restoredFrom?.join(', ')],
            ['scratch', r.scratchPath === undefined ? r.scratch : `${r.scratchPath} (${r.scratchDeleted ? 'removed' : `NOT removed: ${r.scratchProblem ?? 'unknown reason'}`})`],
          );
        }
        lines.push(
          ['files / bytes', `${job.progress.files} / ${formatBytes(job.progress.bytes)}`],
          ['throughput', `${formatBytes(job.progress.throughputBps)}/s`],
          ...(job.type === 'backup' ? bottleneckLines(bottleneck) : [['buffer waits', `writer waited ${job.progress.writerWaits} times for data (client-bound), reader waited ${job.progress.readerWaits} times for buffers (media-bound)`] as [string, unknown]]),
          ['queued / started / ended', `${job.queuedAt} / ${job.startedAt ?? '-'} / ${job.endedAt ?? '-'}`],
          ['window', job.type === 'backup' && job.windowStart ? `${job.windowStart} – ${job.windowEnd ?? '?'}` : undefined],
          ['earlier attempts', (job.attempts ?? []).map((a) => `#${a.attempt}: status ${a.statusCode} at ${a.endedAt}${a.error ? ` (${a.error})` : ''}`).join('\n                          ')],
          ['error', job.error],
          // What the media manager and the broker did for the job (tape errors counted, a volume frozen, a drive DOWN).
          ['details', (job.details ?? []).map((d) => `${d.at}  ${d.message}`).join('\n                          ')],
          ['unreadable', job.type === 'backup' ? job.unreadable.join('\n                          ') : undefined],
          ...costLines(priced),
        );
        for (const [k, v] of lines) if (v !== undefined && v !== '') console.log(`${k.padEnd(24)}  ${String(v)}`);
      });
    });
}
