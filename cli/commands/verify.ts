import type { Command } from 'commander';
import { CairnError } from '#core/errors.ts';
import { asKind } from '#core/model/job.ts';
import { describeStatus, StatusCode, type StatusCodeValue } from '#core/status-codes.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import type { Backend } from '../backend-interface.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { parseIsoTime } from '../time-option.ts';
import { UsageError } from '../usage-errors.ts';
import { exitCodeFor } from '../exit-code.ts';

interface VerifyCommandOptions {
  backupId?: string;
  client?: string;
  since?: Date;
  json?: boolean;
}

/** How often the CLI looks at the running job to show its progress. */
const POLL_MS = 500;

/**
 * `cairn verify` (bpverify): verify jobs that read every fragment of an
 * image and check every sha256 and the tar structure, writing nothing.
 * `--client C --since T` verifies each of the client's images created since
 * T, oldest first, one job per image, one after the other (as bpverify
 * with -client -s walks its image list): each job is visible in `cairn
 * jobs` on its own and ends with its own status. Exit 0 when every image
 * verified, 2 when any is corrupt (status 2001, naming its first bad
 * member) or could not be verified.
 */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify images: read every fragment, check every checksum and the tar structure (like bpverify)')
    .option('--backup-id <id>', 'the image to verify')
    .option('--client <name>', 'with --since: verify each of this client\'s images')
    .option('--since <time>', 'with --client: images created at or after this time (ISO 8601)', parseIsoTime)
    .option('--json', 'print JSON')
    .action(async (options: VerifyCommandOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = options.json ?? globals.json;
      if (Boolean(options.backupId) === Boolean(options.client) || (options.client !== undefined) !== (options.since !== undefined)) throw new UsageError('give either --backup-id ID, or --client C --since TIME', command);
      await withBackend(globals, async (backend) => {
        if (backend.runVerify === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'this backend does not run verify jobs');
        const images = options.backupId ? [options.backupId] : (await backend.catalog.listImages({ client: options.client, from: options.since })).sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((i) => i.backupId);
        if (images.length === 0) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `client ${options.client} has no image created since ${options.since?.toISOString()}`);
        const outcomes = [];
        for (const backupId of images) outcomes.push(await verifyOne(backend, backupId, json));
        if (json) printJson(options.backupId ? outcomes[0] : outcomes);
        const worst = outcomes.reduce((max, o) => Math.max(max, exitCodeFor(o.statusCode)), 0);
        process.exitCode = worst;
      });
    });
}

async function verifyOne(backend: Backend, backupId: string, json: boolean | undefined) {
  let jobId: number | undefined;
  let last = '';
  const show = async (): Promise<void> => {
    const job = jobId === undefined ? undefined : asKind(await backend.jobs.get(jobId), 'verify');
    const line = job?.state === 'ACTIVE' ? `  verifying ${backupId}: ${job.progress.files} entries, ${formatBytes(job.progress.bytes)}` : '';
    if (line !== '' && line !== last && !json) note(line);
    last = line;
  };
  const timer = setInterval(() => void show().catch(() => undefined), POLL_MS);
  let run: Awaited<ReturnType<NonNullable<Backend['runVerify']>>>;
  try {
    run = await backend.runVerify!({ backupId }, {
      onQueued: (ref) => {
        jobId = ref.jobId;
        if (!json) note(`verify job ${ref.jobId}: image ${ref.backupId}`);
      },
    });
  } finally {
    clearInterval(timer);
  }
  if (run.jobId === undefined) throw new CairnError(run.statusCode as StatusCodeValue, run.error ?? 'the verify was refused before it was queued');
  const job = run.job;
  const outcome = {
    jobId: run.jobId,
    backupId,
    statusCode: run.statusCode,
    statusText: describeStatus(run.statusCode),
    ...(run.error ? { error: run.error } : {}),
    files: job?.progress.files ?? 0,
    bytes: job?.progress.bytes ?? 0,
    problemCount: job?.problemCount ?? 0,
    problems: job?.problems ?? [],
  };
  if (!json) {
    note(`verify job ${run.jobId} ended with status ${run.statusCode} (${outcome.statusText}): ${outcome.files} entries, ${formatBytes(outcome.bytes)} read`);
    if (run.statusCode !== StatusCode.SUCCESS && run.error) note(`  error: ${run.error}`);
    for (const line of outcome.problems.slice(1, 10)) note(`  also: ${line}`);
  }
  return outcome;
}
