import type { StorageUnitOpener } from '#core/ports/storage-unit-opener.ts';
import type { TaskProgress, TaskReporter } from '#core/ports/task-reporter.ts';
import { CairnError, messageOf, statusOf } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupTaskResult } from '#core/model/task.ts';
import { readMoverJob, runMover } from './mover.ts';

/**
 * The mover's side of the pipe between the agent and the data mover
 * process (`cairn-agent mover --job FILE`): one JSON object a line on
 * stdout, `{"progress":...}` and `{"heartbeat":true}` while it works, then
 * `{"result":...}` or `{"statusCode":N,"message":...,"details":[...]}`.
 * SIGTERM (the agent's cancel) stops it as an administrator's termination
 * (150), removing what it wrote. stderr is for people.
 */
export type MoverMessage = { progress: TaskProgress } | { heartbeat: true } | { result: BackupTaskResult } | { statusCode: number; message: string; details?: string[] };

export async function moverProcess(jobFile: string, openStore: StorageUnitOpener, out: (line: string) => void = (line) => process.stdout.write(line)): Promise<number> {
  const say = (message: MoverMessage): void => out(`${JSON.stringify(message)}\n`);
  const stop = new AbortController();
  const onTerm = (): void => stop.abort(new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'the data mover was told to stop'));
  process.once('SIGTERM', onTerm);
  const reporter: TaskReporter = {
    progress: async (update) => say({ progress: update }),
    heartbeat: async () => say({ heartbeat: true }),
  };
  try {
    const job = await readMoverJob(jobFile);
    const store = await openStore(job.task.storageUnit);
    // The mover has its own clock: the image's times are those of the host that writes it, as for a file-level backup.
    const result = await runMover(job, { store, openStore, reporter, now: () => new Date(), signal: stop.signal });
    say({ result });
    return 0;
  } catch (error) {
    const details = error instanceof CairnError && error.details.length > 0 ? { details: [...error.details] } : {};
    say({ statusCode: statusOf(error), message: messageOf(error), ...details });
    return 1;
  } finally {
    process.off('SIGTERM', onTerm);
  }
}
