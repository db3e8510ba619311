import type { VerifyCommand } from '../model/verify-task.ts';
import { getJobOfKind } from '../jobs/job-of-kind.ts';
import type { BrokerDeps } from './broker.ts';
import type { TapeGrant } from './tape-choice.ts';
import { reserveReadVolume } from './read-volume-reservation.ts';

export type VerifyReserveDecision =
  /** Granted: Mount and Unmount (read only), and the Read command: verify this volume's fragments. */
  | { granted: true; agentInstanceId: string; mediaId: string; tape: Omit<TapeGrant, 'target'>; read: VerifyCommand }
  | { granted: false; reason: string; retryAfterSeconds: number };

/**
 * nbrb for one volume of a tape image's verify job (its Reserve state): the
 * drive and the volume as a restore job's (read-volume-reservation.ts), run
 * by the image's client's agent (its robot's host), and the Read command:
 * the catalog record, the unit, and where to read.
 */
export async function reserveVerifyVolume(deps: BrokerDeps, jobId: number, index: number, now: Date): Promise<VerifyReserveDecision> {
  const job = await getJobOfKind(deps.jobs, jobId, 'verify');
  const decision = await reserveReadVolume(deps, { job, backupId: job.image, agentClient: job.client, volumes: job.volumes ?? [], index }, now);
  if (!decision.granted) return decision;
  const { image, unit, target, ...granted } = decision;
  // The pieced file the previous volume's Read ended inside: its hash goes on in this Read.
  const carried = job.carry?.afterVolume === index - 1 ? job.carry : undefined;
  const carry = carried ? { carry: { path: carried.path, next: carried.next, sha256State: carried.sha256State } } : {};
  return { ...granted, read: { kind: 'verify', task: { jobId, image, storageUnit: unit, tape: target, ...carry } } };
}
