import { InvalidArgumentError, type Command } from 'commander';
import { localCatalogCheckDeps } from '../catalog-check-deps.ts';
import { describeStatus } from '#core/status-codes.ts';
import { runJanitor, type LocalJanitorReport } from '#local/janitor.ts';
import { localScheduler } from '#local/scheduler-tick.ts';
import { RunReporter, type RunReportOutcome } from '#local/run-report.ts';
import { renderReportText } from '#core/report/render-text.ts';
import { ReaderThread } from '#agent/reader/reader-thread.ts';
import { type GlobalOptions, localBackend, openStandaloneRuntime } from '../backend.ts';
import { note } from '../output.ts';
import { positiveNumber } from '../number-option.ts';
import { startMonitorFor, type MonitorFlags } from '../monitor/serve-monitor.ts';
import { checkBind } from '../monitor/server.ts';

/** `cairn local serve` (`npm start`): the standalone service in the foreground. */
export function registerLocal(program: Command): void {
  const local = program.command('local').description('the standalone runtime on this machine');
  local
    .command('serve')
    .description('run the scheduler tick, job engine and agent in the foreground until interrupted')
    .option('--tick-seconds <n>', 'seconds between scheduler ticks', positiveNumber, 60)
    .option('--once', 'run one tick, wait for the jobs it started, and exit')
    .option('--monitor-port <n>', 'port of the activity monitor page (0 turns it off; not started with --once)', nonNegativePort, 8466)
    .option('--monitor-host <address>', 'address the monitor binds to; anything but loopback needs --tls-cert and --tls-key', '127.0.0.1')
    .option('--tls-cert <file>', 'PEM certificate: the monitor serves HTTPS')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--json', 'print the monitor URL as one JSON line on stdout')
    .action(async (options: { tickSeconds: number; once?: boolean; json?: boolean } & MonitorFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (!options.once && options.monitorPort !== 0) checkBind(options.monitorHost, options.tlsCert !== undefined ? { cert: options.tlsCert, key: options.tlsKey ?? '' } : undefined);
      // A long-lived agent: its backups' reader thread is started now and kept between jobs, not started in each.
      ReaderThread.keepIdleThread();
      const runtime = await openStandaloneRuntime(globals.home);
      note(`cairn: standalone service on ${runtime.home} (${runtime.owner})`);
      reportJanitor(await runJanitor(runtime));
      const units = await runtime.config.listStorageUnits();
      const policies = await runtime.config.listPolicies();
      note(`cairn: ${units.length} storage unit(s): ${units.map((u) => u.name).join(', ')}; ${policies.length} polic${policies.length === 1 ? 'y' : 'ies'}`);
      // Each run's completion report once its last job ended: printed, written under $CAIRN_HOME/reports/, sent to the webhook setting.
      const reports = new RunReporter(runtime, { onReport: reportRun });
      const scheduler = localScheduler(runtime, {
        onStarted: (due) => {
          reports.started(due.executionName);
          note(`cairn: starting ${due.policy}/${due.schedule} for ${due.client}: ${due.reason}`);
        },
        onEnded: (name, run) => {
          note(`cairn: job ${run.jobId ?? '-'} ended with status ${run.statusCode} (${describeStatus(run.statusCode)})`);
          reports.ended(name);
        },
        onIdleUnload: (report) => {
          for (const d of report.unloaded) note(`cairn: unloaded volume ${d.mediaId} from drive ${d.drive}: idle ${Math.round(d.idleSeconds)} s, past its unmount delay of ${d.delaySeconds} s`);
          for (const problem of report.problems) note(`cairn: ${problem}`);
        },
        onExpiration: (run) => {
          for (const e of run.expired) note(`cairn: expired image ${e.backupId} (${e.reason}): ${e.objectsDeleted} objects, ${e.bytesDeleted} bytes deleted${e.volumes.length ? `, off volume(s) ${e.volumes.join(', ')}` : ''}`);
          for (const v of run.recycled) note(`cairn: volume ${v.mediaId} returned from pool ${v.fromPool} to scratch: its images have all expired`);
          for (const c of run.copiesExpired ?? []) note(`cairn: expired copy ${c.copyNumber} of image ${c.backupId} on ${c.storageUnit} (${c.reason}): ${c.objectsDeleted} objects, ${c.bytesDeleted} bytes deleted`);
          for (const problem of run.problems) note(`cairn: cleanup: ${problem}`);
        },
        onCatalogBackup: (run) => {
          if ('error' in run) return note(`cairn: ${run.error}`);
          note(`cairn: catalog backed up as ${run.outcome.image.backupId} (policy ${run.policy}: ${run.reason}); DR file ${run.outcome.drFile}: keep a copy off this machine`);
        },
        // A policy's `catalogCheck`, run in the tick when due with the check's own ports (S3 units listed from here).
        catalogCheck: () => localCatalogCheckDeps(runtime),
        onCatalogCheck: (run) => {
          if ('error' in run) return note(`cairn: ${run.error}`);
          note(`cairn: catalog checked, job ${run.jobId} (policy ${run.policy}: ${run.reason}): ${run.report.findings.length} finding(s)${run.report.repaired ? `, ${run.report.changes.length} change(s), ${run.report.unrepaired.length} left` : ''}; status ${run.statusCode}`);
        },
        onDuplication: (run) => {
          for (const d of run.done) note(`cairn: image ${d.backupId}: copy ${d.copyNumber} on ${d.storageUnit}${d.alreadyPresent ? ' was there already' : `, ${d.objects} objects, ${d.bytes} bytes, verified`}; expires ${d.expiresAt}`);
          for (const problem of run.problems) note(`cairn: duplication: ${problem}`);
        },
      });
      const tick = async (): Promise<void> => {
        reportJanitor(await runJanitor(runtime));
        await scheduler.tick();
      };
      if (options.once) {
        await tick();
        await scheduler.settled();
        await reports.settled();
        runtime.close();
        return;
      }
      // The activity monitor (cli/monitor/): refused before anything runs when its bind address needs TLS; a port in use is a note, not a stopped service.
      const monitor = await startMonitorFor(localBackend(runtime), runtime.home, options, Boolean(options.json ?? globals.json));
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
      await monitor?.close();
      await scheduler.settled();
      await reports.settled();
      runtime.close();
    });
}

/** A TCP port, 0 to 65535 (0: no monitor). */
function nonNegativePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`${value} is not a port (0 to 65535; 0 turns the monitor off)`);
  return Number(value);
}

/** A run's report on stdout (the table), and where it went; a failure to write or send it is a note, never a failed service. */
function reportRun(outcome: RunReportOutcome): void {
  if (outcome.report) process.stdout.write(renderReportText(outcome.report));
  if (outcome.file) note(`cairn: report written to ${outcome.file}`);
  if (outcome.webhook?.sent) note(`cairn: report sent to ${outcome.webhook.url}`);
  for (const problem of outcome.problems) note(`cairn: report: ${problem}`);
}

function reportJanitor(report: LocalJanitorReport): void {
  for (const job of report.endedJobs) note(`cairn: ended job ${job.jobId} with status ${job.statusCode}: ${job.reason}`);
  for (const jobId of report.releasedReservations) note(`cairn: released what ended job ${jobId} still held`);
  for (const image of report.withdrawnImages) note(`cairn: withdrew image ${image.backupId} of job ${image.jobId}: ${image.reason}`);
  for (const claim of report.removedClaims) note(`cairn: removed staged image ${claim.backupId} of job ${claim.jobId} from ${claim.storageUnit} (${claim.objects} objects, ${claim.incomplete} incomplete, ${claim.bytes} bytes): ${claim.reason}`);
  for (const snapshot of report.removedSnapshots) note(`cairn: deleted snapshot ${snapshot.name} of job ${snapshot.jobId}: ${snapshot.why}`);
  for (const problem of report.problems) note(`cairn: janitor: ${problem}`);
}
