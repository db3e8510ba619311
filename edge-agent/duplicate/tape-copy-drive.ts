import { CairnError, messageOf } from '#core/errors.ts';
import { planTapeResources, tapeGrant, tapeResources, type TapeGrant, type TapePlan, type TapeUnit } from '#core/broker/tape-choice.ts';
import { releaseResources } from '#core/broker/broker.ts';
import { resourceRetrySeconds } from '#core/broker/resource-retry.ts';
import { chooseDrive, chooseVolume, inUseBy } from '#core/media/volume-choice.ts';
import { SCRATCH_POOL, isWritableState, type Media, type Robot, type Drive } from '#core/model/tape-media.ts';
import type { TapeDriveAccess } from '#core/model/tape-task.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { MediaStore } from '#core/ports/media-store.ts';
import type { TapeDrive } from '#core/ports/tape-drive.ts';
import { loadSettings } from '#core/settings.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FaultReportingTapeDrive } from '../tape/drives/fault-reporting-drive.ts';
import { runMount, runUnmount, type TapeDevices } from '../tape/mount.ts';

/**
 * What a duplicate to or from tape needs to hold a drive and volumes: the
 * broker's stores, the media manager, the robot and drives, and `holder`,
 * the id its reservations are held under (the job running the duplicate,
 * or a holder the standalone janitor spares while this process lives:
 * local/reservation-holders.ts).
 */
export interface TapeCopyHolding {
  config: ConfigStore;
  media: MediaStore;
  emm: MediaDatabase;
  devices: TapeDevices;
  holder: number;
  now: () => Date;
  /** Told the name of the drive once it is held (the duplicate's job lists it among its drives). */
  onDrive?: (drive: string) => void;
  /** Told each time the duplicate waits for a drive or a volume, with the reason (as a job's waiting reason reads). */
  onWait?: (reason: string) => void;
  signal?: AbortSignal;
  /** How a wait is slept (tests shorten it); it should end early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Sleeps `ms`, cut short when `signal` aborts (a cancelled duplicate does not sleep out the broker's back-off of a minute or more). */
function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A drive of a tape unit held by a duplicate, and the volume in it
 * (bptm/nbrb for bpduplicate): reserved through the broker's own rules
 * (`planTapeResources`: a volume of the unit's pool with the copy's
 * retention, a never-written one, then scratch moved into the pool once
 * granted; `MediaStore.reserve`, one transaction), mounted by the agent's
 * Mount (label a new volume, check the label, position at the append
 * point), and given back by `release` on every path: the volume unloaded
 * (kept loaded after a success on a unit with an unmount delay), the drive
 * recorded in the media manager, the reservation freed
 * (`releaseResources`, as a job's Release).
 *
 * While no drive or volume can be had it waits, telling `onWait` why,
 * with the broker's back-off, until the media mount timeout
 * (`mediaMountTimeoutSeconds`): then 96. An abort ends the wait with 150.
 */
export class TapeCopyDrive {
  readonly #holding: TapeCopyHolding;
  readonly unit: TapeUnit;
  readonly #robot: Robot;
  #drives: Drive[];
  #drive: Drive;
  #media: Media;
  #grant: TapeGrant;
  #opened: TapeDrive | undefined;
  /** Every volume held, in order. */
  readonly volumes: string[] = [];

  private constructor(holding: TapeCopyHolding, unit: TapeUnit, robot: Robot, drives: Drive[], drive: Drive, media: Media, grant: TapeGrant) {
    this.#holding = holding;
    this.unit = unit;
    this.#robot = robot;
    this.#drives = drives;
    this.#drive = drive;
    this.#media = media;
    this.#grant = grant;
    this.volumes.push(media.mediaId);
    holding.onDrive?.(drive.name);
  }

  /** A drive and a volume to write on (`retentionDays`: the copy's, so an ACTIVE volume of the same retention is appended to), mounted. */
  static async forWriting(holding: TapeCopyHolding, unit: TapeUnit, retentionDays: number): Promise<TapeCopyDrive> {
    const { emm, media } = holding;
    const robot = await emm.getRobot(unit.robot);
    if (!robot) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name}: robot ${unit.robot} does not exist in the media manager`);
    const plan = await waitFor<TapePlan>(holding, async () => {
      const planned = await planTapeResources(emm, await media.listReservations(), unit, { jobId: holding.holder, retentionDays });
      if (!planned.chosen) return { reason: `waiting for ${planned.waitingFor}: ${planned.reason}` };
      const result = await media.reserve({ jobId: holding.holder, resources: tapeResources(unit, planned.plan), at: holding.now() });
      return result.granted ? { value: planned.plan } : { reason: `waiting for ${result.refused.kind}: ${result.reason}` };
    });
    let chosen = plan.media;
    if (plan.fromScratch && chosen.pool !== unit.pool) chosen = await emm.label(chosen.mediaId, unit.pool);
    const drive = new TapeCopyDrive(holding, unit, robot, plan.drives, plan.drive, chosen, tapeGrant(holding.holder, unit, { ...plan, media: chosen }));
    await drive.#mount();
    return drive;
  }

  /** A drive holding `mediaId` of `unit`, to read it (never labelled), mounted. */
  static async forReading(holding: TapeCopyHolding, unit: TapeUnit, mediaId: string): Promise<TapeCopyDrive> {
    const { emm } = holding;
    const robot = await emm.getRobot(unit.robot);
    if (!robot) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${unit.name}: robot ${unit.robot} does not exist in the media manager`);
    const media = await emm.getMedia(mediaId);
    if (!media || media.robot !== robot.name || media.slot === undefined) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${mediaId} is not in robot ${robot.name}: put it in the library and run an inventory`);
    const { drives, drive } = await waitFor<{ drives: Drive[]; drive: Drive }>(holding, async () => {
      const reservations = await holding.media.listReservations();
      const holder = reservations.find((r) => r.kind === 'volume' && r.mediaId === mediaId && r.jobId !== holding.holder);
      if (holder) return { reason: `waiting for volume: volume ${mediaId} is in use by job ${holder.jobId}` };
      const drives = await emm.listDrives(robot.name);
      const choice = chooseDrive(robot.name, mediaId, drives, inUseBy(reservations, holding.holder));
      if (!choice.chosen) return { reason: `waiting for drive: ${choice.reason}` };
      const result = await holding.media.reserve({
        jobId: holding.holder,
        resources: [
          { kind: 'drive', storageUnit: unit.name, drive: choice.drive.name },
          { kind: 'volume', pool: media.pool, mediaId },
        ],
        at: holding.now(),
      });
      return result.granted ? { value: { drives, drive: choice.drive } } : { reason: `waiting for ${result.refused.kind}: ${result.reason}` };
    });
    const held = new TapeCopyDrive(holding, unit, robot, drives, drive, media, readOnly(tapeGrant(holding.holder, unit, { robot, drives, drive, media, fromScratch: false, reason: 'read' })));
    await held.#mount();
    return held;
  }

  get mediaId(): string {
    return this.#media.mediaId;
  }

  /** The media manager's append point of the volume in the drive: where a write starts. */
  get appendFile(): number {
    return this.#grant.target.volume.appendFile;
  }

  get access(): TapeDriveAccess {
    return this.#grant.target.drive;
  }

  /** Opens the drive (once per volume; `access` may widen a file tape's early warning), its errors tagged with the drive and the volume. */
  async open(access: TapeDriveAccess = this.access): Promise<TapeDrive> {
    if (this.#opened) return this.#opened;
    this.#opened = new FaultReportingTapeDrive(await this.#holding.devices.openDrive(access), { drive: this.#drive.name, mediaId: this.mediaId });
    return this.#opened;
  }

  async close(): Promise<void> {
    const opened = this.#opened;
    this.#opened = undefined;
    await opened?.close();
  }

  /**
   * The volume in the drive reached end of media: it turns FULL (as
   * ReserveNextVolume records it, its mount counted), and the next volume
   * of the pool is chosen by the same rules, taken in its place in one
   * `exchangeVolume`, and mounted in the same drive (the full one goes back
   * to its slot). Waits as `forWriting` does.
   */
  async nextVolume(retentionDays: number): Promise<void> {
    const { emm, media: store, holder } = this.#holding;
    await this.close();
    const full = this.mediaId;
    const now = this.#holding.now();
    if ((await emm.getDrive(this.#drive.name))?.loaded?.mediaId !== full) {
      await emm.recordMount(full, this.#drive.name, now);
      await emm.setDriveLoaded(this.#drive.name, full, now);
    }
    await emm.updateMedia(full, (m) => (isWritableState(m.state) ? { ...m, state: 'FULL' } : m.state === 'FROZEN' || m.state === 'SUSPENDED' ? { ...m, heldFrom: 'FULL' } : m));
    const chosen = await waitFor<{ drives: Drive[]; media: Media; fromScratch: boolean }>(this.#holding, async () => {
      const reservations = await store.listReservations();
      const drives = await emm.listDrives(this.#robot.name);
      const otherDrives = new Set(drives.filter((d) => d.name !== this.#drive.name && d.loaded !== undefined).map((d) => d.loaded!.mediaId));
      const media = [...(await emm.listMedia({ pool: this.unit.pool, robot: this.#robot.name })), ...(this.unit.pool === SCRATCH_POOL ? [] : await emm.listMedia({ pool: SCRATCH_POOL, robot: this.#robot.name }))].filter(
        (m) => m.slot !== undefined && m.slot >= 1 && !otherDrives.has(m.mediaId) && !this.volumes.includes(m.mediaId),
      );
      const choice = chooseVolume({ robot: this.#robot.name, pool: this.unit.pool, retentionDays }, media, drives, inUseBy(reservations, holder));
      if (!choice.chosen) return { reason: `waiting for volume: ${choice.reason} (volume ${full} is full)` };
      const exchanged = await store.exchangeVolume({ jobId: holder, from: full, to: { pool: this.unit.pool, mediaId: choice.media.mediaId }, at: this.#holding.now() });
      return exchanged.granted ? { value: { drives, media: choice.media, fromScratch: choice.fromScratch } } : { reason: `waiting for volume: ${exchanged.reason} (volume ${full} is full)` };
    });
    let next = chosen.media;
    if (chosen.fromScratch && next.pool !== this.unit.pool) next = await emm.label(next.mediaId, this.unit.pool);
    this.#drives = chosen.drives;
    this.#media = next;
    this.#grant = tapeGrant(holder, this.unit, { robot: this.#robot, drives: this.#drives, drive: this.#drive, media: next, fromScratch: chosen.fromScratch, reason: `volume ${full} is full` });
    this.volumes.push(next.mediaId);
    await this.#mount();
  }

  /**
   * Puts volume `mediaId` in the drive to read it (a read-back of what was
   * written on it, or the next volume of a copy read from tape): the hold
   * moves to it in one `exchangeVolume` (waiting while another job holds
   * it), and it is mounted read only.
   */
  async switchTo(mediaId: string): Promise<void> {
    if (mediaId === this.mediaId) return;
    const { emm, media: store, holder } = this.#holding;
    await this.close();
    const media = await emm.getMedia(mediaId);
    if (!media || media.robot !== this.#robot.name || media.slot === undefined) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `volume ${mediaId} is not in robot ${this.#robot.name}: put it in the library and run an inventory`);
    const from = this.mediaId;
    await waitFor<boolean>(this.#holding, async () => {
      const exchanged = await store.exchangeVolume({ jobId: holder, from, to: { pool: media.pool, mediaId }, at: this.#holding.now() });
      return exchanged.granted ? { value: true } : { reason: `waiting for volume: ${exchanged.reason}` };
    });
    const drive = this.#drive;
    if ((await emm.getDrive(drive.name))?.loaded?.mediaId !== from) await emm.recordMount(from, drive.name, this.#holding.now());
    await emm.setDriveLoaded(drive.name, undefined, this.#holding.now());
    this.#media = media;
    this.#grant = readOnly(tapeGrant(holder, this.unit, { robot: this.#robot, drives: this.#drives, drive, media, fromScratch: false, reason: 'read' }));
    if (!this.volumes.includes(mediaId)) this.volumes.push(mediaId);
    await this.#mount();
  }

  /**
   * Gives everything back, on every path: the drive closed, the volume
   * unloaded (kept loaded after a success on a unit with an unmount delay),
   * the drive and the mount recorded, the reservation freed. A failed
   * unload is reported in the error it throws only when nothing else
   * failed: the reservation goes whatever happens (the next Mount asks the
   * changer what the drive holds).
   */
  async release(succeeded: boolean, failure?: unknown): Promise<void> {
    const { holding } = { holding: this.#holding };
    let problem: unknown;
    await this.close().catch((error: unknown) => (problem ??= error));
    await runUnmount((succeeded ? this.#grant.afterSuccess : this.#grant.afterFailure).task, holding.devices).catch((error: unknown) => (problem ??= error));
    const outcome = succeeded ? { statusCode: 0 } : { failure: { Error: `Status${failure instanceof CairnError ? failure.statusCode : StatusCode.INTERNAL_ERROR}`, Cause: messageOf(failure) } };
    await releaseResources({ media: holding.media, emm: holding.emm, config: holding.config }, holding.holder, { now: holding.now(), outcome });
    if (problem !== undefined && succeeded) throw new CairnError(StatusCode.MEDIA_WRITE_ERROR, `drive ${this.#drive.name}: volume ${this.mediaId} could not be unloaded after the copy: ${messageOf(problem)}`, { cause: problem });
  }

  async #mount(): Promise<void> {
    await runMount(this.#grant.mount.task, this.#holding.devices, this.#holding.now);
  }
}

/** A grant whose Mount never labels: the volume is read. */
function readOnly(grant: TapeGrant): TapeGrant {
  return { ...grant, mount: { ...grant.mount, task: { ...grant.mount.task, volume: { ...grant.mount.task.volume, label: false } } }, target: { ...grant.target, volume: { ...grant.target.volume, label: false } } };
}

/** Asks `attempt` until it gives a value, sleeping the broker's back-off in between; 96 past the media mount timeout, 150 on abort. */
async function waitFor<T>(holding: TapeCopyHolding, attempt: () => Promise<{ value: T; reason?: undefined } | { value?: undefined; reason: string }>): Promise<T> {
  const settings = await loadSettings(holding.config);
  const started = holding.now().getTime();
  const sleep = holding.sleep ?? sleepFor;
  for (;;) {
    if (holding.signal?.aborted) throw new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: holding.signal.reason });
    const answer = await attempt();
    if (answer.reason === undefined) return answer.value as T;
    const waited = (holding.now().getTime() - started) / 1000;
    if (waited >= settings.mediaMountTimeoutSeconds) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `no drive or volume within the media mount timeout (${settings.mediaMountTimeoutSeconds} s): ${answer.reason}`);
    holding.onWait?.(answer.reason);
    await sleep(Math.min(resourceRetrySeconds(settings.resourceRetrySeconds, waited), settings.mediaMountTimeoutSeconds - waited + 1) * 1000, holding.signal);
  }
}
