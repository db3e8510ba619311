import type { DuplicateTask, DuplicateTaskResult } from '#core/model/duplicate-task.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { copyOf } from '#core/model/image.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { writeCopy } from './write-copy.ts';
import { ThroughputSampler } from '../transport/throughput-sampler.ts';

/** Progress reports at most this often (each is a job record write). */
const REPORT_EVERY_MS = 1000;

export interface DuplicateTaskDeps {
  openStore: StorageUnitOpener;
  reporter: TaskReporter;
  signal?: AbortSignal;
  now?: () => number;
}

/**
 * The agent's Copy step of a duplicate job: opens the source copy's unit
 * and the target unit, writes the copy with `writeCopy` (every object
 * checked against the catalog record, the manifest last, the copy read back
 * whole), reporting objects and bytes as it goes (a report that finds the
 * job ended aborts it: 150), and answers with the copy as the catalog is to
 * describe it. Catalogues nothing: the job's Record step does, in one
 * compare-and-set. A corrupt source rejects with 2001 naming the object or
 * member; what was written stays uncatalogued, and the next run writes it
 * again. Tape units are refused (20): this step holds no drive.
 */
export async function runDuplicateTask(task: DuplicateTask, deps: DuplicateTaskDeps): Promise<DuplicateTaskResult> {
  const from = copyOf(task.image, task.fromCopy);
  if (from === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `image ${task.image.backupId} has no copy ${task.fromCopy} to duplicate`);
  if (from.storageUnit !== task.fromStorageUnit.name) throw new CairnError(StatusCode.INTERNAL_ERROR, `copy ${task.fromCopy} of image ${task.image.backupId} is on ${from.storageUnit}, the command names ${task.fromStorageUnit.name}`);
  for (const unit of [task.fromStorageUnit, task.storageUnit]) {
    if (unit.kind === 'tape') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `storage unit ${unit.name} is a tape unit: the duplicate job's Copy step holds no drive`);
  }
  const [fromStore, toStore] = await Promise.all([deps.openStore(task.fromStorageUnit), deps.openStore(task.storageUnit)]);
  const now = deps.now ?? Date.now;
  const started = now();
  // The job page's chart, as a backup's: the bounded series, sent whole with each report.
  const sampler = new ThroughputSampler(new Date(started));
  let last = 0;
  let reporting: Promise<void> = Promise.resolve();
  const written = await writeCopy({
    image: task.image,
    from: { copy: from, store: fromStore },
    to: { storageUnit: task.storageUnit.name, store: toStore },
    copyNumber: task.copyNumber,
    ...(task.expiresAt === undefined ? {} : { expiresAt: task.expiresAt }),
    ...(deps.signal ? { signal: deps.signal } : {}),
    onProgress: (p) => {
      const at = now();
      if (at - last < REPORT_EVERY_MS) return;
      last = at;
      const seconds = Math.max((at - started) / 1000, 0.001);
      reporting = reporting.then(() => deps.reporter.progress({ files: p.objects, bytes: p.bytes, throughputBps: Math.round(p.bytes / seconds), writerWaits: 0, readerWaits: 0, currentPath: p.current, samples: sampler.sample(new Date(at), p.bytes) }));
    },
  });
  await reporting;
  // The series' last point, however short the copy (advisory: the Record step records the totals).
  const seconds = Math.max((now() - started) / 1000, 0.001);
  await deps.reporter.progress({ files: written.objects, bytes: written.bytes, throughputBps: Math.round(written.bytes / seconds), writerWaits: 0, readerWaits: 0, samples: sampler.sample(new Date(now()), written.bytes) }).catch(() => undefined);
  return { copy: written.copy, objects: written.objects, bytes: written.bytes };
}
