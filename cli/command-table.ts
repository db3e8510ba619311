import type { Command } from 'commander';

/**
 * Every top-level command, in the order `cairn --help` lists them, with the
 * module that registers it, loaded only when needed. A command's module (and
 * through it the runtime it drives: SQLite, the ASL interpreter, the AWS SDK)
 * costs more to load than the rest of start-up; `cairn images` needs one of
 * them, not all seventeen. The names are the command's name and aliases as its
 * module registers them (test/cli/command-table.test.ts holds the two equal).
 */
export interface CommandEntry {
  names: readonly string[];
  load: () => Promise<(program: Command) => void>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { names: ['backup'], load: async () => (await import('./commands/backup.ts')).registerBackup },
  { names: ['jobs'], load: async () => (await import('./commands/jobs.ts')).registerJobs },
  { names: ['images'], load: async () => (await import('./commands/images.ts')).registerImages },
  { names: ['restore'], load: async () => (await import('./commands/restore.ts')).registerRestore },
  { names: ['report'], load: async () => (await import('./commands/report.ts')).registerReport },
  { names: ['verify'], load: async () => (await import('./commands/verify.ts')).registerVerify },
  { names: ['rehearse'], load: async () => (await import('./commands/rehearse.ts')).registerRehearse },
  { names: ['catalog'], load: async () => (await import('./commands/catalog.ts')).registerCatalog },
  { names: ['duplicate'], load: async () => (await import('./commands/duplicate.ts')).registerDuplicate },
  { names: ['ls'], load: async () => (await import('./commands/ls.ts')).registerLs },
  { names: ['storage-unit', 'stu'], load: async () => (await import('./commands/storage-units.ts')).registerStorageUnits },
  { names: ['robot'], load: async () => (await import('./commands/robots.ts')).registerRobots },
  { names: ['drive'], load: async () => (await import('./commands/drives.ts')).registerDrives },
  { names: ['media'], load: async () => (await import('./commands/media.ts')).registerMedia },
  { names: ['pool'], load: async () => (await import('./commands/pools.ts')).registerPools },
  { names: ['snapshot'], load: async () => (await import('./commands/snapshots.ts')).registerSnapshots },
  { names: ['client'], load: async () => (await import('./commands/clients.ts')).registerClients },
  { names: ['agent'], load: async () => (await import('./commands/agent.ts')).registerAgent },
  { names: ['policy'], load: async () => (await import('./commands/policy.ts')).registerPolicy },
  { names: ['schedule'], load: async () => (await import('./commands/schedule.ts')).registerSchedule },
  { names: ['config'], load: async () => (await import('./commands/schedule.ts')).registerConfig },
  { names: ['local'], load: async () => (await import('./commands/local.ts')).registerLocal },
  { names: ['monitor'], load: async () => (await import('./commands/monitor.ts')).registerMonitor },
  { names: ['demo'], load: async () => (await import('./commands/demo.ts')).registerDemo },
];

/** The root options that take a value (`--home DIR`): their value is not the command word. */
export const ROOT_OPTIONS_WITH_VALUE: ReadonlySet<string> = new Set(['--home', '--stack', '--region', '--profile', '--endpoint']);
export const ROOT_FLAGS: ReadonlySet<string> = new Set(['--aws']);

/**
 * The commands to register for this command line: only the one it names
 * when that is certain, else all of them. Anything this scan does not fully
 * understand (`help`, `--help`, `--version`, an unknown option or command,
 * no command at all) registers every command, so commander sees the same
 * program as before and prints the same help and errors. With one command
 * registered, commander parses and reports that command exactly as it does
 * with all registered: a command's parse, help and usage depend only on
 * itself and the root options.
 */
export function commandsFor(args: readonly string[]): readonly CommandEntry[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (ROOT_OPTIONS_WITH_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (ROOT_FLAGS.has(arg) || [...ROOT_OPTIONS_WITH_VALUE].some((option) => arg.startsWith(`${option}=`))) continue;
    if (arg.startsWith('-')) return COMMANDS;
    const named = COMMANDS.find((entry) => entry.names.includes(arg));
    return named ? [named] : COMMANDS;
  }
  return COMMANDS;
}

/** Registers the given commands on the program, in table order. */
export async function registerCommands(program: Command, entries: readonly CommandEntry[]): Promise<void> {
  const registers = await Promise.all(entries.map((entry) => entry.load()));
  for (const register of registers) register(program);
}
