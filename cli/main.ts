import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerBackup } from './commands/backup.ts';
import { registerJobs } from './commands/jobs.ts';
import { registerImages } from './commands/images.ts';
import { registerRestore } from './commands/restore.ts';
import { registerDemo } from './commands/demo.ts';
import { registerLocal } from './commands/local.ts';
import { registerStorageUnits } from './commands/storage-units.ts';
import { registerPolicy } from './commands/policy.ts';
import { registerLs } from './commands/ls.ts';
import { registerConfig, registerSchedule } from './commands/schedule.ts';
import { isCleanExit, routeUsageErrors } from './usage-errors.ts';
import { reportError } from './report-error.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Cairn backup: operator CLI (standalone by default; --aws talks to a deployed stack)')
    .option('--home <dir>', 'standalone state directory (default $CAIRN_HOME or ./.cairn)')
    .option('--aws', 'talk to a deployed Cairn stack instead of the standalone runtime')
    .option('--stack <name>', 'CloudFormation stack name of the deployment', 'CairnStack')
    .option('--region <region>', 'AWS region')
    .option('--profile <profile>', 'AWS profile')
    .option('--endpoint <url>', 'AWS endpoint (an emulator such as LocalStack or moto_server)')
    .version(version);
  registerBackup(program);
  registerJobs(program);
  registerImages(program);
  registerRestore(program);
  registerLs(program);
  registerStorageUnits(program);
  registerPolicy(program);
  registerSchedule(program);
  registerConfig(program);
  registerLocal(program);
  registerDemo(program);
  return routeUsageErrors(program);
}

/**
 * Exit codes: 0 success, 1 partial success (set by the command), 2 failure.
 * Every error, usage errors included, is printed once with its status code
 * (as JSON with --json); nothing escapes as a bare stack or errno text.
 */
export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const fail = (error: unknown): void => {
    reportError(error, { json });
    process.exitCode = 2;
  };
  // `cairn jobs | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    reportError(error, { json: false });
    process.exit(2);
  });
  // A failure outside the command's own promise (a timer, a stream) is still reported with a status.
  process.on('unhandledRejection', (error) => {
    fail(error);
    process.exit(2);
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (isCleanExit(error)) process.exitCode = 0;
    else fail(error);
  }
}
