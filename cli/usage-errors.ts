import { type Command, CommanderError } from 'commander';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * The command line itself is wrong (missing or unknown option, unknown
 * command, bad option value): status 20, exit code 2, and the usage line of
 * the command it is about, never the whole help.
 */
export class UsageError extends CairnError {
  /** `cairn backup [options]` */
  readonly usage: string;
  /** `cairn backup --help` */
  readonly helpHint: string;

  constructor(message: string, command: Command, options: { cause?: unknown } = {}) {
    super(StatusCode.INVALID_COMMAND_USAGE, message, options);
    this.name = 'UsageError';
    this.usage = command.createHelp().commandUsage(command);
    this.helpHint = `${commandPath(command)} --help`;
  }

  override toJSON(): ReturnType<CairnError['toJSON']> & { usage: string } {
    return { ...super.toJSON(), usage: this.usage };
  }
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Routes every commander error of every (sub)command through one place:
 * commander prints nothing itself, `--help`, `help` and `--version` still end
 * with exit code 0, and everything else becomes a UsageError that the caller
 * reports like any other error (so `--json` gets a JSON object too). Each
 * command gets its own override because commander's errors do not say which
 * command they are about. Call once all commands are registered.
 */
export function routeUsageErrors(program: Command): Command {
  const install = (command: Command): void => {
    command
      .configureOutput({ outputError: () => undefined, writeErr: () => undefined })
      .exitOverride((error) => {
        throw error.exitCode === 0 ? error : toUsageError(command, error);
      });
    command.commands.forEach(install);
  };
  install(program);
  return program;
}

function toUsageError(command: Command, error: CommanderError): UsageError {
  // A command with subcommands given none (or `help` given an unknown one): commander would print the whole help; name what is wrong instead.
  if (error.code === 'commander.help') {
    const known = command.commands.map((c) => c.name()).join(', ');
    const unknown = command.args.find((arg) => !arg.startsWith('-') && arg !== 'help');
    return new UsageError(`${unknown === undefined ? 'missing command' : `unknown command '${unknown}'`} (one of: ${known})`, command, { cause: error });
  }
  return new UsageError(error.message.replace(/^error: /, ''), command, { cause: error });
}

/** `--help`, `help` and `--version` end through commander's exit path with code 0: not an error. */
export function isCleanExit(error: unknown): boolean {
  return error instanceof CommanderError && error.exitCode === 0;
}
