import { z } from 'zod';
import { agentInstanceOf } from '../clients/agent-instance.ts';
import { unloadTask } from '../broker/tape-held.ts';
import type { TapeUnit } from '../broker/tape-choice.ts';
import { CairnError, messageOf } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { UnmountResult } from '../model/tape-task.ts';
import type { Drive, DriveUnloading } from '../model/tape-media.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';
import type { MediaDatabase } from '../ports/media-manager.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { OperatorCommands } from '../ports/operator-commands.ts';
import { drivesIdlePastDelay, holdIdleDrive, type IdleDrive } from './idle-drives.ts';

export interface AgentIdleUnloadDeps {
  config: ConfigStore;
  jobs: Pick<JobStore, 'nextJobId'>;
  media: Pick<MediaStore, 'reserve' | 'release' | 'listReservations'>;
  emm: MediaDatabase;
  agents: OperatorCommands;
}

export interface AgentIdleUnloadReport {
  /** Unloads sent to the robot's agent this time (the drive stays recorded loaded until the agent answers). */
  sent: (IdleDrive & { instanceId: string; commandId: string; holder: number })[];
  /** Unloads the agent answered this time: the drive is recorded empty (`unloaded` false: it was empty already). */
  unloaded: { drive: string; mediaId: string; unloaded: boolean }[];
  /** Unloads still running on the agent. */
  pending: { drive: string; mediaId: string; commandId: string }[];
  /** What could not be done, or failed on the agent (tried again at a later tick; the drive stays recorded loaded). */
  problems: string[];
}

/** The agent's answer on stdout (edge-agent/transport/main.ts run-command): its result, or the status it failed with. */
const AgentAnswer = z.union([z.object({ result: UnmountResult }).strict(), z.object({ statusCode: z.number().int(), message: z.string() }).strict()]);

/**
 * The cloud runtime's media unmount delay (ltid), one step per scheduler
 * tick, with the same rule as the standalone runtime
 * (local/idle-drive-unload.ts: `drivesIdlePastDelay`) and the same hold,
 * but across ticks, since the robot moves on its agent's host and the
 * scheduler does not wait for it:
 *
 * 1. An unload in flight (`Drive.unloading`) is looked up (`agents.state`).
 *    Answered by the agent with its result: the drive is recorded empty
 *    (which ends `unloading`), then the hold is released. Answered with a
 *    failure, or ended without an answer (host offline, timed out): the
 *    drive stays recorded loaded, `unloading` is cleared and the hold
 *    released; the next tick tries again. Still running: left alone.
 * 2. Each drive kept loaded past its unit's `mediaUnmountDelaySeconds`
 *    with no job is first reserved with its volume under a fresh job id
 *    that no job will ever have (`JobStore.nextJobId`), atomically against
 *    the broker's reservations: a job that got there first keeps the drive.
 *    The decision is taken again on the fresh record, the `unmount`
 *    command (always unload: `unloadTask`) sent to the agent of the
 *    robot's client, and `unloading` recorded with the holder.
 *
 * The drive is never recorded empty before the agent said it unloaded
 * it, and no job can take it while the unload runs (the holder's
 * reservation). The scheduler's sweep spares holders named by
 * `unloading` (`holdersOfUnloads`): they belong to no job. Should the
 * tick stop between the send and recording `unloading`, the holder's
 * reservation is released by the next sweep (stranded: no job, not
 * spared) and the drive stays recorded loaded while the agent empties it:
 * harmless, as Mount asks the changer what a drive holds and never trusts
 * the record, and the next idle unload of it finds the drive empty.
 */
export async function unloadIdleDrivesThroughAgent(deps: AgentIdleUnloadDeps, now: Date): Promise<AgentIdleUnloadReport> {
  const report: AgentIdleUnloadReport = { sent: [], unloaded: [], pending: [], problems: [] };
  const drives = await deps.emm.listDrives();
  for (const drive of drives) {
    if (!drive.unloading) continue;
    try {
      await settle(deps, drive, drive.unloading, now, report);
    } catch (error) {
      report.problems.push(`drive ${drive.name}: the unload of ${drive.unloading.mediaId} (command ${drive.unloading.commandId}) could not be looked up: ${messageOf(error)}`);
    }
  }
  // A drive whose unload was looked up this tick waits for the next one (a failed unload is not sent again at once).
  const fresh = drives.filter((d) => d.loaded && !d.unloading);
  if (fresh.length === 0) return report;
  const [units, media, reservations] = await Promise.all([deps.config.listStorageUnits(), deps.emm.listMedia(), deps.media.listReservations()]);
  const heldDrives = new Set(reservations.flatMap((r) => (r.kind === 'drive' ? [r.drive] : [])));
  const tapeUnits = units.filter((u): u is TapeUnit => u.kind === 'tape');
  const idle = drivesIdlePastDelay({ drives: fresh, units, media, heldDrives, now });
  for (const candidate of idle) {
    try {
      const sent = await sendUnload(deps, candidate, tapeUnits, now);
      if (sent) report.sent.push({ ...candidate, ...sent });
    } catch (error) {
      report.problems.push(`drive ${candidate.drive}: volume ${candidate.mediaId} could not be unloaded: ${messageOf(error)}`);
    }
  }
  return report;
}

/** The holders of the unloads in flight: their reservations are no job's, and must not be released as stranded. */
export async function holdersOfUnloads(emm: Pick<MediaDatabase, 'listDrives'>): Promise<ReadonlySet<number>> {
  return new Set((await emm.listDrives()).flatMap((d) => (d.unloading ? [d.unloading.holder] : [])));
}

async function settle(deps: AgentIdleUnloadDeps, drive: Drive, unloading: DriveUnloading, now: Date, report: AgentIdleUnloadReport): Promise<void> {
  const where = await deps.agents.state(unloading.commandId, unloading.instanceId);
  if (where.state === 'running') {
    report.pending.push({ drive: drive.name, mediaId: unloading.mediaId, commandId: unloading.commandId });
    return;
  }
  const answer = where.state === 'answered' ? parseAnswer(where.stdout) : undefined;
  if (answer !== undefined && 'result' in answer) {
    // The agent unloaded it (or found it empty): now, and only now, the drive is recorded empty.
    await deps.emm.setDriveLoaded(drive.name, undefined, now);
    await deps.media.release(unloading.holder);
    report.unloaded.push({ drive: drive.name, mediaId: unloading.mediaId, unloaded: answer.result.unloaded });
    return;
  }
  const why = where.state === 'failed' ? where.reason : answer ? `the agent on ${unloading.instanceId} answered status ${answer.statusCode}: ${answer.message}` : `the agent on ${unloading.instanceId} answered something that is not its JSON answer`;
  await deps.emm.setDriveUnloading(drive.name, undefined);
  await deps.media.release(unloading.holder);
  report.problems.push(`drive ${drive.name}: the unload of ${unloading.mediaId} failed (${why}); the drive stays recorded loaded and a later tick tries again`);
}

/** The last line of stdout is the agent's answer; undefined when it is not one. */
function parseAnswer(stdout: string): z.output<typeof AgentAnswer> | undefined {
  try {
    const parsed = AgentAnswer.safeParse(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Reserves the drive and its volume, decides again on the fresh record, sends the unload, records it. Undefined when a job took the drive first. */
async function sendUnload(deps: AgentIdleUnloadDeps, idle: IdleDrive, units: TapeUnit[], now: Date): Promise<{ instanceId: string; commandId: string; holder: number } | undefined> {
  const unit = units.find((u) => u.name === idle.storageUnit) ?? units.find((u) => u.robot === idle.robot);
  const [media, robot] = await Promise.all([deps.emm.getMedia(idle.mediaId), deps.emm.getRobot(idle.robot)]);
  if (!unit || !robot || !media || media.slot === undefined) {
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `no tape unit of robot ${idle.robot}, or volume ${idle.mediaId} has no home slot there: unload it by hand (cairn --aws robot inventory afterwards)`);
  }
  if (robot.client === undefined) throw new CairnError(StatusCode.CLIENT_NOT_FOUND, `robot ${robot.name} names no client whose agent drives it (cairn --aws robot add ... --client NAME)`);
  const found = await agentInstanceOf(deps.config, robot.client, undefined);
  if (found.instanceId === undefined) throw new CairnError(StatusCode.CLIENT_NOT_FOUND, `robot ${robot.name} is driven by the agent of client ${robot.client}, which has no instance: ${found.reason}`);
  const held = await holdIdleDrive(deps, { idle, unitName: unit.name, robot: robot.name, media, units }, now);
  if (!held) return undefined;
  const { holder, drives, drive } = held;
  let sent = false;
  try {
    const commandId = await deps.agents.send(found.instanceId, { kind: 'unmount', task: unloadTask(holder, unit, { robot, drives, drive, media }) });
    sent = true;
    await deps.emm.setDriveUnloading(drive.name, { mediaId: media.mediaId, holder, instanceId: found.instanceId, commandId, since: now.toISOString() });
    return { instanceId: found.instanceId, commandId, holder };
  } finally {
    // Held until the agent answers; given back at once when nothing was sent.
    if (!sent) await deps.media.release(holder);
  }
}
