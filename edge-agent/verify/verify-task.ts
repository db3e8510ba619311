import type { VerifyTask, VerifyTaskResult } from '#core/model/verify-task.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import type { TaskReporter } from '#core/ports/task-reporter.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { tapeFragmentSource } from '../tape/format/tape-fragment-source.ts';
import { FaultReportingTapeDrive } from '../tape/drives/fault-reporting-drive.ts';
import { realTapeDevices, type TapeDevices } from '../tape/mount.ts';
import { drainingDrive } from '../tape/tape-restore-read.ts';
import { ThroughputSampler } from '../transport/throughput-sampler.ts';
import { runRehearsal, type RehearsalDeps } from '../rehearsal/rehearse.ts';
import { describeProblem, verifyImage, type VerifyOptions } from './verify-image.ts';

/** Progress reports at most this often (each is a job record write). */
const REPORT_EVERY_MS = 1000;

export interface VerifyTaskDeps {
  openStore: StorageUnitOpener;
  reporter: TaskReporter;
  signal?: AbortSignal;
  now?: () => number;
  /** Where a tape volume's drive is opened (default: the real devices). */
  devices?: TapeDevices;
  /** A rehearsal's scratch directory when its task names none (edge-agent/rehearsal/). */
  defaultScratch?: string;
  /** Where this runtime holds the robot (standalone): a rehearsal of an image only on tape reads it through a drive it reserves (RehearsalDeps.tape). */
  tape?: RehearsalDeps['tape'];
}

/**
 * The agent's Verify step: opens the task's storage unit, verifies the
 * image's primary copy, reporting entries and bytes as it goes (a report
 * that finds the job ended aborts it: 150), and returns what it found. A
 * corrupt image is a result, not a failure: the Record step turns it into
 * the job's status.
 *
 * With `task.rehearsal` it is a restore rehearsal (edge-agent/rehearsal/rehearse.ts).
 *
 * With `task.tape` it is a tape verify job's Read of one volume: the drive
 * the Mount step loaded is opened, the volume's label checked before its
 * first read (93 on the wrong tape), and only the volume's fragments read,
 * each positioned by its recorded block (`tapeFragmentSource`, as a
 * restore job's Read). A read, position or label error carries its drive
 * and volume (`[tape-fault ...]`), which the job's Release counts.
 */
export async function runVerifyTask(task: VerifyTask, deps: VerifyTaskDeps): Promise<VerifyTaskResult> {
  // A restore rehearsal is a verify job's variant: it restores into scratch instead of reading the copy.
  if (task.rehearsal !== undefined) return runRehearsal(task, deps);
  const store = await deps.openStore(task.storageUnit);
  const tape = task.tape;
  if (tape === undefined) return verifyWith(task, deps, { store });
  const devices = deps.devices ?? realTapeDevices;
  const opened = new FaultReportingTapeDrive(await devices.openDrive(tape.drive), { drive: tape.drive.name, mediaId: tape.mediaId });
  // A stopped verify (cancel) may leave a read in flight: the drive closes once it has ended.
  const { drive, drain } = drainingDrive(opened);
  try {
    const fragmentSource: FragmentSource = tapeFragmentSource({
      mount: async (mediaId: string): Promise<TapeDrive> => {
        if (mediaId !== tape.mediaId) throw new CairnError(StatusCode.INTERNAL_ERROR, `the Read of volume ${tape.mediaId} was asked for a fragment on volume ${mediaId}`);
        return drive;
      },
    });
    return await verifyWith(task, deps, { store, fragmentSource, volume: { fragments: new Set(tape.fragments), first: tape.volume === 1, last: tape.volume === tape.volumes, ...(task.carry ? { carryIn: task.carry } : {}) } });
  } finally {
    await drain();
    await opened.close();
  }
}

async function verifyWith(task: VerifyTask, deps: VerifyTaskDeps, how: Pick<VerifyOptions, 'store' | 'fragmentSource' | 'volume'>): Promise<VerifyTaskResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  // The job's chart: a tape volume's Read goes on from the series of the volumes before it.
  const sampler = new ThroughputSampler(new Date(started), task.tape?.before);
  let last = 0;
  let reporting: Promise<void> = Promise.resolve();
  const report = (p: { files: number; bytes: number; currentPath?: string }, at: number): Promise<void> => {
    const seconds = Math.max((at - started) / 1000, 0.001);
    return deps.reporter.progress({ files: p.files, bytes: p.bytes, throughputBps: Math.round(p.bytes / seconds), writerWaits: 0, readerWaits: 0, ...(p.currentPath === undefined ? {} : { currentPath: p.currentPath }), samples: sampler.sample(new Date(at), p.bytes) });
  };
  const result = await verifyImage({
    ...how,
    image: task.image,
    signal: deps.signal,
    onProgress: (p) => {
      const at = now();
      if (at - last < REPORT_EVERY_MS) return;
      last = at;
      reporting = reporting.then(() => report(p, at));
    },
  });
  await reporting;
  // The last point: the series ends at what was read, however short the read (advisory, as every report is: the job's end records the totals).
  await report({ files: result.members, bytes: result.bytes }, now()).catch(() => undefined);
  return { fragments: result.fragments, members: result.members, filesHashed: result.filesHashed, bytes: result.bytes, problemCount: result.problemCount, problems: result.problems.slice(0, 50).map(describeProblem), ...(result.carryOut ? { carry: result.carryOut } : {}) };
}
