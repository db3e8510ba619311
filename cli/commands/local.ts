import type { Command } from 'commander';
import { describeStatus } from '#core/status-codes.ts';
import { endOrphanedJobs } from '#local/orphans.ts';
import { schedulerTick } from '#local/scheduler-tick.ts';
import { type GlobalOptions, openStandaloneRuntime } from '../backend.ts';
import { note } from '../output.ts';
import { positiveNumber } from '../number-option.ts';

/** `cairn local serve` (`npm start`): the standalone service in the foreground. */
export function registerLocal(program: Command): void {
  const local = program.command('local').description('the standalone runtime on this machine');
  local
    .command('serve')
    .description('run the scheduler tick, job engine and agent in the foreground until interrupted')
    .option('--tick-seconds <n>', 'seconds between scheduler ticks', positiveNumber, 60)
    .option('--once', 'run one tick, wait for the jobs it started, and exit')
    .action(async (options: { tickSeconds: number; once?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const runtime = await openStandaloneRuntime(globals.home);
      const orphans = await endOrphanedJobs(runtime);
      note(`cairn: standalone service on ${runtime.home} (${runtime.owner})`);
      if (orphans.length) note(`cairn: ended orphaned jobs ${orphans.join(', ')} with status 2002`);
      const units = await runtime.config.listStorageUnits();
      const policies = await runtime.config.listPolicies();
      note(`cairn: ${units.length} storage unit(s): ${units.map((u) => u.name).join(', ')}; ${policies.length} polic${policies.length === 1 ? 'y' : 'ies'}`);
      const inFlight = new Set<Promise<unknown>>();
      const tick = async (): Promise<void> => {
        const runs = await schedulerTick(runtime, (due) => note(`cairn: starting ${due.policy}/${due.schedule} for ${due.client}: ${due.reason}`));
        for (const run of runs) {
          const tracked = run.then((r) => note(`cairn: job ${r.jobId ?? '-'} ended with status ${r.statusCode} (${describeStatus(r.statusCode)})`)).finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
      };
      if (options.once) {
        await tick();
        await Promise.all(inFlight);
        runtime.close();
        return;
      }
      await tick();
      const timer = setInterval(() => void tick().catch((e: unknown) => note(`cairn: tick failed: ${String(e)}`)), options.tickSeconds * 1000);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          note('cairn: stopping; waiting for running jobs');
          clearInterval(timer);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await Promise.all(inFlight);
      runtime.close();
    });
}
