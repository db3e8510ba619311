import type { RestoreCommand } from '../model/agent-command.ts';
import { getJobOfKind } from '../jobs/job-of-kind.ts';
import { CairnError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import type { BrokerDeps } from './broker.ts';
import type { TapeGrant } from './tape-choice.ts';
import { reserveReadVolume } from './read-volume-reservation.ts';

export type RestoreReserveDecision =
  /** Granted: Mount and Unmount (read only: the volume is never labelled), and the Read command for the agent. */
  | { granted: true; agentInstanceId: string; mediaId: string; tape: Omit<TapeGrant, 'target'>; read: RestoreCommand }
  | { granted: false; reason: string; retryAfterSeconds: number };

/**
 * nbrb for one volume of a tape restore (the restore job's Reserve state):
 * the drive and the volume as `reserveReadVolume` reserves them for any job
 * reading a tape image (read-volume-reservation.ts: waiting reasons,
 * backoff, ACTIVE on the first volume), and the Read command for the
 * agent: the image, the target, the paths, and the volume's fragments.
 */
export async function reserveRestoreVolume(deps: BrokerDeps, jobId: number, index: number, now: Date): Promise<RestoreReserveDecision> {
  const job = await getJobOfKind(deps.jobs, jobId, 'restore');
  if (job.state === 'DONE') throw new CairnError((job.statusCode ?? StatusCode.TERMINATED_BY_ADMINISTRATOR) as never, `job ${jobId} ended before volume ${index + 1} was reserved`);
  if (!('backupId' in job.source)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `job ${jobId} restores a point in time; a restore job reads one tape image`);
  // Mount, Read and Unmount run on the robot's host, which must serve the target client (tape-agent.ts: 219, 48).
  const decision = await reserveReadVolume(deps, { job, backupId: job.source.backupId, agentClient: job.target.client, volumes: job.volumes, index, ...(job.copyNumber === undefined ? {} : { copyNumber: job.copyNumber }) }, now);
  if (!decision.granted) return decision;
  const { image, unit, target, ...granted } = decision;
  return {
    ...granted,
    read: {
      kind: 'restore',
      task: {
        jobId,
        client: job.client,
        source: job.source,
        target: job.target,
        paths: job.paths,
        continueOnError: job.continueOnError,
        images: [{ image, storageUnit: unit }],
        tape: target,
      },
    },
  };
}
