import type { Command } from 'commander';
import { CairnError } from '#core/errors.ts';
import type { VerifyRequest } from '#core/jobs/verify-job.ts';
import { asKind } from '#core/model/job.ts';
import { RehearsalSample, ScratchDirectory } from '#core/model/policy.ts';
import { describeStatus, StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import type { z } from 'zod';
import { type GlobalOptions, withBackend } from '../backend.ts';
import type { Backend } from '../backend-interface.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { UsageError } from '../usage-errors.ts';
import { exitCodeFor } from '../exit-code.ts';

interface RehearseCommandOptions {
  policy?: string;
  client?: string;
  backupId?: string;
  sample?: string;
  scratch?: string;
  json?: boolean;
}

/** How often the CLI looks at the running job to show its progress. */
const POLL_MS = 500;

/**
 * `cairn rehearse`: a restore rehearsal, a verify-kind job that restores a
 * sample of files (or the whole tree: `--sample all`) of the latest usable
 * image of each client of `--policy` (or of `--backup-id`) into a fresh
 * directory under the scratch directory on the client, compares each with
 * the index, and removes the directory. Standalone, the job runs in this
 * process; with `--aws` it is an execution of the verify-job state machine,
 * followed to its end. Exit 0 when every file matched, 2 when any did not
 * (2001, naming the first) or the restore failed (its own status).
 */
export function registerRehearse(program: Command): void {
  program
    .command('rehearse')
    .description('restore rehearsal: restore a sample of the latest image into scratch, compare with the index, remove it')
    .option('--policy <name>', 'the policy whose clients\' latest images are rehearsed (every client, or --client)')
    .option('--client <name>', 'with --policy: only this client')
    .option('--backup-id <id>', 'rehearse this image instead')
    .option('--sample <n|all>', 'regular files to restore (default: the policy\'s rehearsal sample, else 20), or all: the whole tree')
    .option('--scratch <dir>', 'absolute directory on the client to restore under (default: the policy\'s, else $CAIRN_HOME/rehearsals, or the agent state directory\'s rehearsals/)')
    .option('--json', 'print JSON')
    .action(async (options: RehearseCommandOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      if (Boolean(options.backupId) === Boolean(options.policy) && !(options.backupId && options.policy)) throw new UsageError('give --policy P [--client C], or --backup-id ID', command);
      if (options.client && !options.policy) throw new UsageError('--client goes with --policy', command);
      const sample = options.sample === undefined ? undefined : optionValue(RehearsalSample, options.sample === 'all' ? 'all' : /^\d+$/.test(options.sample) ? Number(options.sample) : options.sample, '--sample', options.sample);
      const scratch = options.scratch === undefined ? undefined : optionValue(ScratchDirectory, options.scratch, '--scratch', options.scratch);
      const rehearsal = { ...(sample === undefined ? {} : { sample }), ...(scratch === undefined ? {} : { scratch }) };
      await withBackend(globals, async (backend) => {
        if (backend.runVerify === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'this backend does not run rehearsal jobs');
        const requests: VerifyRequest[] = [];
        if (options.backupId) requests.push({ backupId: options.backupId, ...(options.policy ? { policy: options.policy } : {}), rehearsal });
        else {
          const policy = await backend.config.getPolicy(options.policy!);
          if (!policy) throw new CairnError(StatusCode.INVALID_POLICY, `policy ${options.policy} does not exist`);
          const clients = options.client ? [options.client] : policy.clients.map((c) => c.name);
          for (const client of clients) requests.push({ policy: policy.name, rehearsal: { ...rehearsal, client } });
        }
        const outcomes = [];
        for (const request of requests) outcomes.push(await rehearseOne(backend, request, json));
        if (json) printJson(outcomes.length === 1 ? outcomes[0] : outcomes);
        process.exitCode = outcomes.reduce((max, o) => Math.max(max, exitCodeFor(o.statusCode)), 0);
      });
    });
}

async function rehearseOne(backend: Backend, request: VerifyRequest, json: boolean | undefined) {
  let jobId: number | undefined;
  let last = '';
  const what = request.backupId ?? `client ${request.rehearsal?.client}`;
  const show = async (): Promise<void> => {
    const job = jobId === undefined ? undefined : asKind(await backend.jobs.get(jobId), 'verify');
    const line = job?.state === 'ACTIVE' ? `  rehearsing ${job.image}: ${job.progress.files} files, ${formatBytes(job.progress.bytes)}${job.progress.currentPath ? ` (${job.progress.currentPath})` : ''}` : '';
    if (line !== '' && line !== last && !json) note(line);
    last = line;
  };
  const timer = setInterval(() => void show().catch(() => undefined), POLL_MS);
  let run: Awaited<ReturnType<NonNullable<Backend['runVerify']>>>;
  try {
    run = await backend.runVerify!(request, {
      onQueued: (ref) => {
        jobId = ref.jobId;
        if (!json) note(`rehearsal job ${ref.jobId}: image ${ref.backupId} of client ${ref.client}`);
      },
    });
  } finally {
    clearInterval(timer);
  }
  if (run.jobId === undefined) throw new CairnError(run.statusCode as StatusCodeValue, run.error ?? `the rehearsal of ${what} was refused before it was queued`);
  const job = run.job;
  const r = job?.rehearsal;
  const outcome = {
    jobId: run.jobId,
    client: job?.client,
    backupId: job?.image,
    statusCode: run.statusCode,
    statusText: describeStatus(run.statusCode),
    ...(run.error ? { error: run.error } : {}),
    images: r?.images ?? [],
    restoredFrom: r?.restoredFrom ?? [],
    sample: r?.sample,
    sampleSize: r?.sampleSize ?? 0,
    filesChecked: r?.filesChecked ?? 0,
    bytes: r?.bytes ?? 0,
    mismatchCount: job?.problemCount ?? 0,
    mismatches: job?.problems ?? [],
    scratchPath: r?.scratchPath,
    scratchDeleted: r?.scratchDeleted,
    ...(r?.scratchProblem ? { scratchProblem: r.scratchProblem } : {}),
  };
  if (!json) {
    note(`rehearsal job ${run.jobId} ended with status ${run.statusCode} (${outcome.statusText}): ${outcome.filesChecked} of ${outcome.sampleSize} sampled files checked, ${formatBytes(outcome.bytes)}`);
    if (outcome.restoredFrom.length > 0) note(`  restored from ${outcome.restoredFrom.join(', ')}`);
    if (outcome.scratchPath) note(`  scratch ${outcome.scratchPath}: ${outcome.scratchDeleted ? 'removed' : `NOT removed (${outcome.scratchProblem ?? 'unknown reason'})`}`);
    if (run.statusCode !== StatusCode.SUCCESS && run.error) note(`  error: ${run.error}`);
    for (const line of outcome.mismatches.slice(1, 10)) note(`  also: ${line}`);
  }
  return outcome;
}

/** The option's value checked by the policy's own rule; 20 naming the option, the value and the rule it breaks. */
function optionValue<T extends z.ZodType>(schema: T, value: unknown, option: string, given: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `${option} ${given}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
}
