import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { commandsFor, registerCommands } from './command-table.ts';
import { isCleanExit, routeUsageErrors } from './usage-errors.ts';
import { reportError } from './report-error.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * The program for this command line. Only the command it names is loaded and
 * registered (see command-table.ts), which is most of the start-up time saved;
 * `--help`, `help` and anything unrecognised get every command.
 */
export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command('cairn')
    .description('Cairn backup: operator CLI (standalone by default; --aws talks to a deployed stack)')
    .option('--home <dir>', 'standalone state directory (default $CAIRN_HOME or ./.cairn)')
    .option('--aws', 'talk to a deployed Cairn stack instead of the standalone runtime')
    .option('--stack <name>', 'CloudFormation stack name of the deployment', 'CairnStack')
    .option('--region <region>', 'AWS region')
    .option('--profile <profile>', 'AWS profile')
    .option('--endpoint <url>', 'AWS endpoint (an emulator such as LocalStack or moto_server)')
    .version(version);
  await registerCommands(program, commandsFor(argv.slice(2)));
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
    await (await buildProgram(argv)).parseAsync(argv);
  } catch (error) {
    if (isCleanExit(error)) process.exitCode = 0;
    else fail(error);
  }
}
