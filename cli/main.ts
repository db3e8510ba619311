import { Command, CommanderError } from 'commander';
import { CairnError, messageOf } from '#core/errors.ts';
import { describeStatus } from '#core/status-codes.ts';
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

export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Cairn backup: operator CLI (standalone by default; --aws talks to a deployed stack)')
    .option('--home <dir>', 'standalone state directory (default $CAIRN_HOME or ./.cairn)')
    .option('--aws', 'talk to a deployed Cairn stack instead of the standalone runtime')
    .option('--stack <name>', 'CloudFormation stack name of the deployment', 'CairnStack')
    .option('--region <region>', 'AWS region')
    .option('--profile <profile>', 'AWS profile')
    .option('--endpoint <url>', 'AWS endpoint (an emulator such as LocalStack or moto_server)')
    .showHelpAfterError()
    .exitOverride();
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
  return program;
}

/** Errors print as one precise line (and as JSON with --json); the exit code is 2 for failures. */
export async function main(argv: string[]): Promise<void> {
  // `cairn jobs | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (json) process.stdout.write(`${JSON.stringify(error instanceof CairnError ? error.toJSON() : { error: 'Error', message: messageOf(error) }, null, 2)}\n`);
    else if (error instanceof CairnError) {
      process.stderr.write(`cairn: status ${error.statusCode} (${describeStatus(error.statusCode)}): ${error.message}\n`);
      for (const detail of error.details) process.stderr.write(`  ${detail}\n`);
    } else process.stderr.write(`cairn: ${messageOf(error)}\n`);
    process.exitCode = 2;
  }
}
