import type { Command } from 'commander';
import type { GlobalOptions } from '../backend-interface.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { UsageError } from '../usage-errors.ts';
import { DEFAULT_ORPHAN_GRACE_SECONDS, runCatalogCheck, type CatalogCheckReport } from '#core/catalog/catalog-check.ts';
import { durationSeconds, formatDuration } from '#core/model/durations.ts';
import { runAsJob } from '#core/jobs/lifecycle-job.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { catalogCheckFields, catalogCheckOutcome } from '#core/jobs/lifecycle-outcomes.ts';

/**
 * `cairn catalog check [--repair] [--grace 24h] [--json]` (NetWorker nsrck,
 * NetBackup bpdbm -consistency): what the catalog, the jobs, the
 * reservations, the media manager and the storage units disagree about,
 * and with --repair what was done about each. Exit status 0 when clean; 1
 * when the check found something (without --repair) or something was left
 * unrepaired (with it).
 */
export function registerCatalogCheck(catalog: Command): void {
  catalog
    .command('check')
    .description('find orphaned objects, missing or short image data, dead jobs, stale reservations, volume lists and expirations that disagree with the catalog')
    .option('--repair', 'fix what is safe: delete orphans older than --grace, mark damaged copies broken, end dead jobs, release stale reservations, finish expirations')
    .option('--grace <duration>', 'orphans younger than this are reported but not deleted (24h, 90m, 7d; 0 for none)', '24h')
    .option('--json', 'print JSON')
    .action(async (options: { repair?: boolean; grace: string; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const grace = options.grace === '0' ? 0 : durationSeconds(options.grace);
      if (typeof grace !== 'number') throw new UsageError(`--grace ${options.grace}: ${grace}`, command);
      const { localCatalogCheck, awsCatalogCheck } = await import('../catalog-check-deps.ts');
      const runtime = globals.aws ? await awsCatalogCheck(globals) : await localCatalogCheck(globals);
      try {
        const repair = options.repair ?? false;
        // A catalog-check job (`cairn jobs`, the report): its status says what `cairn catalog check` exits with.
        const { result: report } = await runAsJob({ jobs: runtime.jobs, now: () => runtime.clock.now(), owner: runtime.owner, timer: systemTimer }, 'catalog-check', catalogCheckFields(repair), (job) => runCatalogCheck(runtime.deps, runtime.clock.now(), { repair, graceSeconds: grace, signal: job.signal }), catalogCheckOutcome);
        if (report.unrepaired.length > 0 || report.problems.length > 0) process.exitCode = 1;
        if (options.json ?? globals.json) return printJson(report);
        print(report, grace);
      } finally {
        runtime.close();
      }
    });
}

function print(report: CatalogCheckReport, grace: number): void {
  for (const f of report.findings) {
    console.log(`${f.kind} ${f.subject}${f.bytes > 0 ? ` (${formatBytes(f.bytes)})` : ''}: ${f.detail}`);
    if (!report.repaired) console.log(`  repair: ${f.repair}`);
  }
  for (const c of report.changes) console.log(`repaired ${c.subject}: ${c.change}`);
  for (const f of report.repaired ? report.unrepaired : []) console.log(`left ${f.subject}: ${f.repair}`);
  for (const p of report.problems) note(`cairn: ${p}`);
  const orphans = report.findings.filter((f) => f.kind === 'orphan-object');
  const graceText = grace === 0 ? 'no grace period' : `grace ${formatDuration(grace)}${grace === DEFAULT_ORPHAN_GRACE_SECONDS ? ' (default)' : ''}`;
  console.log(
    `${report.scanned.images} images, ${report.scanned.objects} objects (${formatBytes(report.scanned.bytes)}) looked at; ${report.findings.length} finding(s), ${orphans.length} orphan(s) holding ${formatBytes(orphans.reduce((s, f) => s + f.bytes, 0))}; ${graceText}` +
      (report.repaired ? `; ${report.changes.length} change(s), ${report.unrepaired.length} left` : ''),
  );
}
