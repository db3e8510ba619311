import type { Command } from 'commander';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { type GlobalOptions, withBackend } from '../backend.ts';
import { printJson, table } from '../output.ts';

/**
 * `cairn snapshot list`: the frozen images an agent still has (its registry,
 * edge-agent/snapshot/snapshot-registry.ts), after the agent's clean-up at
 * start removed what it could. Standalone: the in-process agent's, under
 * CAIRN_HOME (every command runs the janitor first, which ends the jobs of
 * dead processes and deletes their images). `--state-dir`: an agent host's
 * registry, read on that host (the cloud agent's is /var/lib/cairn-agent).
 */
export function registerSnapshots(program: Command): void {
  const snapshot = program.command('snapshot').description('frozen images (btrfs, LVM, ZFS snapshots) an agent made for backup jobs');
  snapshot
    .command('list')
    .description('the snapshots an agent still has: name, job, method, source, where it reads, created, whether its owner process runs')
    .option('--state-dir <dir>', "an agent's state directory on this host (the cloud agent's: /var/lib/cairn-agent); default: the standalone runtime's")
    .option('--json', 'print JSON')
    .action(async (options: { stateDir?: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { listSnapshots } = await import('#agent/snapshot/snapshot-cleanup.ts');
      const { openSnapshotAgent } = await import('#agent/snapshot/snapshot-agent.ts');
      let stateDir = options.stateDir;
      if (stateDir === undefined) {
        if (globals.aws) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, "an agent's snapshots are on its host: run `cairn snapshot list --state-dir /var/lib/cairn-agent` there");
        const { resolveCairnHome } = await import('#local/runtime.ts');
        const { localAgentStateDir } = await import('#local/local-snapshots.ts');
        // The janitor runs first (as before every command): what a dead process left is removed, what remains is listed.
        await withBackend(globals, async () => undefined);
        stateDir = localAgentStateDir(resolveCairnHome(globals.home));
      }
      const listed = await listSnapshots(openSnapshotAgent(stateDir));
      if (options.json ?? globals.json) return printJson(listed);
      if (listed.length === 0) return console.log(`no snapshots (${stateDir})`);
      console.log(
        table(
          ['NAME', 'JOB', 'METHOD', 'SOURCE', 'READ ROOT', 'CREATED', 'OWNER'],
          listed.map((s) => [s.name, s.jobId, s.method, s.sourceRoot, s.readRoot ?? '(being made)', s.createdAt, `${s.owner.pid} ${s.owner.alive ? 'running' : 'gone'}${s.exists === false ? ' (image gone)' : ''}`]),
        ),
      );
    });
}
