import type { ExpirationRun } from '../catalog/expire-images.ts';
import type { CatalogCheckReport } from '../catalog/catalog-check.ts';
import { CATALOG_CLIENT } from '../model/dr-file.ts';
import { StatusCode } from '../status-codes.ts';
import { LIFECYCLE_NAMES_KEPT, type LifecycleFields, type LifecycleJobEnd } from './lifecycle-job.ts';

/** Whether a cleanup run did or failed anything: the scheduler tick records a job only then (one a tick otherwise). */
export function cleanupDidSomething(run: ExpirationRun): boolean {
  return run.expired.length + run.recycled.length + (run.copiesExpired?.length ?? 0) + run.problems.length > 0;
}

/** The fields an image-cleanup job starts with. */
export function cleanupFields(trigger: 'tick' | 'command'): LifecycleFields<'image-cleanup'> {
  return { client: CATALOG_CLIENT, trigger };
}

/**
 * How an image-cleanup job ends: 0 when everything it set out to do was
 * done, 1 (partial success) when something could not be expired or
 * recycled (it stays, and the next run tries again), the first problem
 * its reason. Bytes are those deleted, files the objects.
 */
export function cleanupOutcome(run: ExpirationRun): LifecycleJobEnd<'image-cleanup'> {
  const expired = [...run.expired.map((e) => e.backupId), ...(run.copiesExpired ?? []).map((c) => `${c.backupId} copy ${c.copyNumber}`)];
  const deleted = [...run.expired, ...(run.copiesExpired ?? [])];
  return {
    statusCode: run.problems.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS,
    ...(run.problems.length > 0 ? { reason: `${run.problems.length} problem(s), first: ${run.problems[0]}` } : {}),
    fields: {
      expired: expired.slice(0, LIFECYCLE_NAMES_KEPT),
      expiredCount: expired.length,
      keptCount: run.kept.length,
      deferred: run.deferred,
      recycledVolumes: run.recycled.map((v) => v.mediaId),
      problems: run.problems.slice(0, LIFECYCLE_NAMES_KEPT),
      problemCount: run.problems.length,
    },
    progress: { files: deleted.reduce((sum, e) => sum + e.objectsDeleted, 0), bytes: deleted.reduce((sum, e) => sum + e.bytesDeleted, 0) },
  };
}

/** The fields a catalog-check job starts with. */
export function catalogCheckFields(repair: boolean, policy?: string): LifecycleFields<'catalog-check'> {
  return { client: CATALOG_CLIENT, repair, ...(policy === undefined ? {} : { policy }) };
}

/**
 * How a catalog-check job ends, as `cairn catalog check` exits: 0 when
 * nothing is left wrong (nothing found, or all of it repaired), 1 when a
 * finding is left (without repair, every one) or something could not be
 * looked at; the first of them its reason.
 */
export function catalogCheckOutcome(report: CatalogCheckReport): LifecycleJobEnd<'catalog-check'> {
  const findings: Record<string, number> = {};
  for (const f of report.findings) findings[f.kind] = (findings[f.kind] ?? 0) + 1;
  const left = report.repaired ? report.unrepaired : report.findings;
  const lines = [...left.map((f) => `${f.kind} ${f.subject}: ${f.detail}`), ...report.problems];
  return {
    statusCode: lines.length > 0 ? StatusCode.PARTIAL_SUCCESS : StatusCode.SUCCESS,
    ...(lines.length > 0 ? { reason: `${left.length} finding(s) left, ${report.problems.length} problem(s); first: ${lines[0]}` } : {}),
    fields: { findings, repairs: report.changes.length, unrepaired: report.unrepaired.length, problems: lines.slice(0, LIFECYCLE_NAMES_KEPT) },
    progress: { files: report.scanned.objects, bytes: report.scanned.bytes },
  };
}
