import type { VerifyTask, VerifyTaskResult } from '#core/model/verify-task.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { describeProblem, verifyImage } from './verify-image.ts';

/** Progress reports at most this often (each is a job record write). */
const REPORT_EVERY_MS = 1000;

/**
 * The agent's Verify step: opens the task's storage unit, verifies the
 * image's primary copy, reporting entries and bytes as it goes (a report
 * that finds the job ended aborts it: 150), and returns what it found. A
 * corrupt image is a result, not a failure: the Record step turns it into
 * the job's status.
 */
export async function runVerifyTask(task: VerifyTask, deps: { openStore: StorageUnitOpener; reporter: TaskReporter; signal?: AbortSignal; now?: () => number }): Promise<VerifyTaskResult> {
  const now = deps.now ?? Date.now;
  const store = await deps.openStore(task.storageUnit);
  const started = now();
  let last = 0;
  let reporting: Promise<void> = Promise.resolve();
  const result = await verifyImage({
    store,
    image: task.image,
    signal: deps.signal,
    onProgress: (p) => {
      const at = now();
      if (at - last < REPORT_EVERY_MS) return;
      last = at;
      const seconds = Math.max((at - started) / 1000, 0.001);
      reporting = reporting.then(() => deps.reporter.progress({ files: p.files, bytes: p.bytes, throughputBps: Math.round(p.bytes / seconds), writerWaits: 0, readerWaits: 0, currentPath: p.currentPath }));
    },
  });
  await reporting;
  return { fragments: result.fragments, members: result.members, filesHashed: result.filesHashed, bytes: result.bytes, problemCount: result.problemCount, problems: result.problems.slice(0, 50).map(describeProblem) };
}
