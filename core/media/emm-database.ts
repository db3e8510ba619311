import { z } from 'zod';
import { byCodePoint } from '../code-point-order.ts';
import { CairnError, ConflictError, NotFoundError } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';
import { Drive, DriveUnloading, Media, MediaErrorEntry, MediaId, Robot, SCRATCH_POOL, VolumePool, newMedia, type DriveState } from '../model/tape-media.ts';
import type { EmmRecordKind, EmmRecords, EmmWrite } from '../ports/emm-records.ts';
import type { InventoryResult, MediaDatabase, MediaFilter, MediaWrite, NewDrive, NewPool, NewRobot } from '../ports/media-manager.ts';
import { reconcileInventory, type InventoryReport } from './inventory.ts';
import { frozen, suspended, unfrozen, unsuspended, withError, written } from './media-changes.ts';

/** How often a change that lost a race is applied again to the fresh record before giving up (2006). */
const MAX_ATTEMPTS = 50;

const SCRATCH: VolumePool = { name: SCRATCH_POOL, description: 'built-in: volumes never written, taken by any pool that needs one', version: 0 };

const schemas = { robot: Robot, drive: Drive, pool: VolumePool, media: Media } as const;
type Models = { robot: Robot; drive: Drive; pool: VolumePool; media: Media };
type Kind = EmmRecordKind & keyof Models;
const missing = { robot: 'robot', drive: 'drive', pool: 'pool', media: 'media' } as const;

const invalid = (message: string): CairnError => new CairnError(StatusCode.INVALID_COMMAND_USAGE, message);

/**
 * The media manager (MediaDatabase) on any EmmRecords adapter. Every change
 * reads a record, computes the new one with a pure function, and commits it
 * conditionally on the version read, together with whatever other record
 * the change must hold still (a volume moved into a pool bumps the pool's
 * version, so a concurrent delete of the pool loses and looks again). A lost
 * commit is decided again on fresh records: no update is lost, and nothing
 * waits on a lock.
 */
export class EmmDatabase implements MediaDatabase {
  readonly #records: EmmRecords;
  constructor(records: EmmRecords) {
    this.#records = records;
  }

  // ---- robots

  async addRobot(robot: NewRobot, at: Date): Promise<Robot> {
    const value = parseOrThrow(Robot, { ...robot, addedAt: at.toISOString(), version: 0 }, 'robot');
    if (!(await this.#records.commit([put('robot', value.name, value)]))) throw invalid(`robot ${value.name} exists already`);
    return { ...value, version: 1 };
  }

  async getRobot(name: string): Promise<Robot | undefined> {
    return this.#get('robot', name);
  }

  async listRobots(): Promise<Robot[]> {
    return this.#list('robot');
  }

  async removeRobot(name: string): Promise<void> {
    await this.#must('robot', name);
    // Volumes first, one by one (each idempotent), so a retry after a failure finds the robot still there.
    for (const media of await this.listMedia({ robot: name })) await this.#moveOutside(media.mediaId, name);
    await this.#retry(`removing robot ${name}`, async () => {
      const robot = await this.#must('robot', name);
      const drives = await this.listDrives(name);
      return this.#records.commit([del('robot', name, robot.version), ...drives.map((d) => del('drive', d.name, d.version))]);
    });
  }

  // ---- drives

  async addDrive(drive: NewDrive): Promise<Drive> {
    const value = parseOrThrow(Drive, { ...drive, state: 'UP', errorCount: 0, errors: [], version: 0 }, 'drive');
    return this.#retry(`adding drive ${value.name}`, async () => {
      const robot = await this.#must('robot', value.robot);
      const existing = await this.#get('drive', value.name);
      if (existing) throw invalid(`drive ${value.name} exists already (in robot ${existing.robot})`);
      const sameIndex = (await this.listDrives(value.robot)).find((d) => d.index === value.index);
      if (sameIndex) throw invalid(`robot ${value.robot} has drive ${sameIndex.name} at index ${value.index} already`);
      // The robot's version is bumped, so a concurrent removeRobot or a second drive at the same index looks again.
      const ok = await this.#records.commit([put('drive', value.name, value), touch('robot', robot)]);
      return ok ? { ...value, version: 1 } : undefined;
    });
  }

  async getDrive(name: string): Promise<Drive | undefined> {
    return this.#get('drive', name);
  }

  async listDrives(robot?: string): Promise<Drive[]> {
    const drives = await this.#list('drive');
    return robot === undefined ? drives : drives.filter((d) => d.robot === robot).sort((a, b) => a.index - b.index);
  }

  async removeDrive(name: string): Promise<void> {
    await this.#retry(`removing drive ${name}`, async () => {
      const drive = await this.#must('drive', name);
      return this.#records.commit([del('drive', name, drive.version)]);
    });
  }

  async setDriveState(name: string, state: DriveState, reason?: string): Promise<Drive> {
    return this.#change('drive', name, (drive) => {
      const { downReason: _previous, ...rest } = drive;
      return state === 'UP' ? { ...rest, state } : { ...rest, state, ...(reason ? { downReason: reason } : {}) };
    });
  }

  async resetDriveErrors(name: string): Promise<Drive> {
    return this.#change('drive', name, (drive) => ({ ...drive, errorCount: 0, errors: [] }));
  }

  async recordDriveError(name: string, error: MediaErrorEntry): Promise<Drive> {
    const entry = parseOrThrow(MediaErrorEntry, error, 'drive error');
    return this.#change('drive', name, (drive) => ({ ...withError(drive, entry), errorCount: drive.errorCount + 1 }));
  }

  async setDriveLoaded(name: string, mediaId: string | undefined, at: Date): Promise<Drive> {
    return this.#load(name, mediaId, at, false).then((r) => r.drive);
  }

  async setDriveUnloading(name: string, unloading: DriveUnloading | undefined): Promise<Drive> {
    const value = unloading === undefined ? undefined : parseOrThrow(DriveUnloading, unloading, 'drive unloading');
    return this.#change('drive', name, (drive) => {
      const { unloading: _previous, ...rest } = drive;
      return value === undefined ? rest : { ...rest, unloading: value };
    });
  }

  // ---- pools

  async addPool(pool: NewPool): Promise<VolumePool> {
    if (pool.name === SCRATCH_POOL) throw invalid(`pool ${SCRATCH_POOL} is built in`);
    const value = parseOrThrow(VolumePool, { ...pool, version: 0 }, 'pool');
    if (!(await this.#records.commit([put('pool', value.name, value)]))) throw invalid(`pool ${value.name} exists already`);
    return { ...value, version: 1 };
  }

  async getPool(name: string): Promise<VolumePool | undefined> {
    return name === SCRATCH_POOL ? SCRATCH : this.#get('pool', name);
  }

  async listPools(): Promise<VolumePool[]> {
    return [SCRATCH, ...(await this.#list('pool'))].sort((a, b) => byCodePoint(a.name, b.name));
  }

  async deletePool(name: string): Promise<void> {
    if (name === SCRATCH_POOL) throw invalid(`pool ${SCRATCH_POOL} is built in and cannot be deleted`);
    await this.#retry(`deleting pool ${name}`, async () => {
      const pool = await this.#must('pool', name);
      const held = await this.listMedia({ pool: name });
      if (held.length > 0) {
        const ids = held.slice(0, 5).map((m) => m.mediaId).join(', ');
        throw invalid(`pool ${name} holds ${held.length} volume${held.length === 1 ? '' : 's'} (${ids}${held.length > 5 ? ', ...' : ''}): move or expire them first`);
      }
      // Conditional on the version read: a volume labelled into the pool since bumped it, and this looks again.
      return this.#records.commit([del('pool', name, pool.version)]);
    });
  }

  // ---- media

  async addMedia(media: Media): Promise<Media> {
    const value = parseOrThrow(Media, { ...media, version: 0 }, 'media');
    return this.#retry(`adding media ${value.mediaId}`, async () => {
      if (await this.#get('media', value.mediaId)) throw invalid(`media ${value.mediaId} exists already`);
      const pool = await this.#poolWrite(value.pool);
      const ok = await this.#records.commit([put('media', value.mediaId, value), ...pool]);
      return ok ? { ...value, version: 1 } : undefined;
    });
  }

  async getMedia(mediaId: string): Promise<Media | undefined> {
    return this.#get('media', mediaId);
  }

  async listMedia(filter: MediaFilter = {}): Promise<Media[]> {
    return (await this.#list('media')).filter((m) => matchesMediaFilter(m, filter));
  }

  async updateMedia(mediaId: string, change: (media: Media) => Media, options: { expectedVersion?: number } = {}): Promise<Media> {
    return this.#change('media', mediaId, change, options.expectedVersion);
  }

  async freeze(mediaId: string): Promise<Media> {
    return this.#change('media', mediaId, frozen);
  }
  async unfreeze(mediaId: string): Promise<Media> {
    return this.#change('media', mediaId, unfrozen);
  }
  async suspend(mediaId: string): Promise<Media> {
    return this.#change('media', mediaId, suspended);
  }
  async unsuspend(mediaId: string): Promise<Media> {
    return this.#change('media', mediaId, unsuspended);
  }

  async label(mediaId: string, pool: string): Promise<Media> {
    return this.#change('media', mediaId, (media) => {
      if (media.images.length > 0 || media.bytesWritten > 0) {
        throw invalid(`media ${mediaId} holds ${media.images.length} image${media.images.length === 1 ? '' : 's'} (${media.bytesWritten} bytes, pool ${media.pool}): it can be relabelled only once they expire`);
      }
      return { ...media, pool };
    });
  }

  async recordMediaError(mediaId: string, error: MediaErrorEntry): Promise<Media> {
    const entry = parseOrThrow(MediaErrorEntry, error, 'media error');
    return this.#change('media', mediaId, (media) => withError(media, entry));
  }

  async recordWrite(mediaId: string, write: MediaWrite): Promise<Media> {
    if (!(Number.isSafeInteger(write.bytes) && write.bytes >= 0 && Number.isSafeInteger(write.tapeFiles) && write.tapeFiles >= 0)) {
      throw invalid(`a write to media ${mediaId} must count whole, non-negative bytes and tape files (got ${write.bytes} bytes, ${write.tapeFiles} tape files)`);
    }
    return this.#change('media', mediaId, (media) => written(media, write));
  }

  async recordMount(mediaId: string, drive: string, at: Date): Promise<Media> {
    return this.#load(drive, mediaId, at, true).then((r) => r.media!);
  }

  async applyInventory(robotName: string, report: InventoryReport, at: Date): Promise<InventoryResult> {
    await this.#must('robot', robotName);
    const drives = await this.listDrives(robotName);
    const plan = reconcileInventory(robotName, await this.listMedia(), drives, report);
    const result: InventoryResult = { plan, added: [], moved: [], left: [] };
    for (const { mediaId, place } of plan.add) {
      try {
        await this.addMedia({ ...newMedia(mediaId, at, { robot: robotName, ...(place.slot === undefined ? {} : { slot: place.slot }) }), ...(place.drive === undefined ? {} : { drive: place.drive }) });
        result.added.push(mediaId);
      } catch (error) {
        // Added meanwhile (another inventory): it is known now, so it is moved to where this one found it.
        if (!(error instanceof CairnError) || (await this.#get('media', mediaId)) === undefined) throw error;
        plan.move.push({ mediaId, place, reason: `added by a concurrent inventory; placed at what this one found` });
      }
    }
    for (const { mediaId, place } of plan.move) {
      await this.#change('media', mediaId, (media) => {
        const { slot: _slot, drive: _drive, lastRobot: _lastRobot, ...rest } = media;
        const lastRobot = media.robot !== undefined && media.robot !== robotName ? media.robot : media.lastRobot;
        return { ...rest, robot: robotName, ...(place.slot === undefined ? {} : { slot: place.slot }), ...(place.drive === undefined ? {} : { drive: place.drive }), ...(lastRobot === undefined ? {} : { lastRobot }) };
      });
      result.moved.push(mediaId);
    }
    for (const { mediaId } of plan.leave) if (await this.#moveOutside(mediaId, robotName)) result.left.push(mediaId);
    // The drives' loaded volumes follow what the changer says is in them.
    for (const drive of drives) {
      const reported = report.drives.find((d) => d.index === drive.index);
      // A barcode that is no media id was reported as a problem; the drive is recorded as holding nothing known.
      const barcode = reported?.barcode !== undefined && MediaId.safeParse(reported.barcode).success ? reported.barcode : undefined;
      if (drive.loaded?.mediaId === barcode) continue;
      await this.#change('drive', drive.name, (d) => {
        const { loaded: _loaded, ...rest } = d;
        return barcode === undefined ? rest : { ...rest, loaded: { mediaId: barcode, since: at.toISOString() } };
      });
    }
    return result;
  }

  // ---- the mechanism

  /** Out of `robot` (only if it is still there): robot, slot and drive cleared, `lastRobot` set. False when it was elsewhere. */
  async #moveOutside(mediaId: string, robot: string): Promise<boolean> {
    let moved = false;
    await this.#change('media', mediaId, (media) => {
      moved = media.robot === robot;
      if (!moved) return media;
      const { robot: _robot, slot: _slot, drive: _drive, ...rest } = media;
      return { ...rest, lastRobot: robot };
    });
    return moved;
  }

  /** Records what a drive holds (and, for a mount, counts it on the volume), in one commit with the volumes concerned. */
  async #load(driveName: string, mediaId: string | undefined, at: Date, mount: boolean): Promise<{ drive: Drive; media?: Media }> {
    const when = at.toISOString();
    return this.#retry(`recording the volume in drive ${driveName}`, async () => {
      const drive = await this.#must('drive', driveName);
      const media = mediaId === undefined ? undefined : await this.#must('media', mediaId);
      // A recorded load or unload ends any unload in flight (the agent answered, or the record was set by hand).
      const { loaded: _loaded, unloading: _unloading, ...rest } = drive;
      const nextDrive: Drive = { ...rest, ...(mediaId === undefined ? {} : { loaded: { mediaId, since: drive.loaded?.mediaId === mediaId ? drive.loaded.since : when } }), lastUsedAt: when };
      const writes: EmmWrite[] = [put('drive', driveName, nextDrive, drive.version)];
      // The volume that was in the drive is no longer recorded there; nor is the new one in any other drive.
      const previous = drive.loaded && drive.loaded.mediaId !== mediaId ? await this.#get('media', drive.loaded.mediaId) : undefined;
      if (previous?.drive === driveName) {
        const { drive: _d, ...out } = previous;
        writes.push(put('media', previous.mediaId, out, previous.version));
      }
      let nextMedia: Media | undefined;
      if (media) {
        nextMedia = { ...media, drive: driveName, ...(mount ? { mountCount: media.mountCount + 1, lastMountedAt: when } : {}) };
        writes.push(put('media', media.mediaId, nextMedia, media.version));
        for (const other of await this.listDrives()) {
          if (other.name === driveName || other.loaded?.mediaId !== mediaId) continue;
          const { loaded: _l, ...emptied } = other;
          writes.push(put('drive', other.name, emptied, other.version));
        }
      }
      if (!(await this.#records.commit(writes))) return undefined;
      return { drive: { ...nextDrive, version: drive.version + 1 }, ...(nextMedia ? { media: { ...nextMedia, version: media!.version + 1 } } : {}) };
    });
  }

  /** The pool bump that goes with a volume entering `pool` (none for scratch); NotFoundError when the pool does not exist. */
  async #poolWrite(pool: string): Promise<EmmWrite[]> {
    if (pool === SCRATCH_POOL) return [];
    return [touch('pool', await this.#must('pool', pool))];
  }

  /**
   * Read, change, commit conditionally; on a lost commit, again on the fresh
   * record (or, with `expectedVersion`, a ConflictError). The new value is
   * validated against the model before it is written, and keeps its key.
   */
  async #change<K extends Kind>(kind: K, key: string, change: (value: Models[K]) => Models[K], expectedVersion?: number): Promise<Models[K]> {
    return this.#retry(`changing ${missing[kind]} ${key}`, async () => {
      const current = await this.#must(kind, key);
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new ConflictError(`${missing[kind]} ${key} is at version ${current.version}, not ${expectedVersion}: it changed since it was read`);
      }
      const next = parseOrThrow(schemas[kind] as unknown as z.ZodType<Models[K]>, { ...change(current), version: current.version }, missing[kind]);
      if (keyOf(kind, next) !== key) throw invalid(`a change of ${missing[kind]} ${key} cannot rename it`);
      if (JSON.stringify(next) === JSON.stringify(current)) return current;
      const extra = kind === 'media' && (next as Media).pool !== (current as Media).pool ? await this.#poolWrite((next as Media).pool) : [];
      const ok = await this.#records.commit([put(kind, key, next, current.version), ...extra]);
      if (ok) return { ...next, version: current.version + 1 };
      if (expectedVersion !== undefined) throw new ConflictError(`${missing[kind]} ${key} changed while this change was written`);
      return undefined;
    });
  }

  /** Runs `attempt` until it returns a value; undefined means "lost a race, decide again". */
  async #retry<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
    for (let i = 1; i <= MAX_ATTEMPTS; i++) {
      const result = await attempt();
      if (result !== undefined) return result;
    }
    throw new ConflictError(`${what} kept losing to concurrent changes (${MAX_ATTEMPTS} attempts)`, { kind: 'contention' });
  }

  async #get<K extends Kind>(kind: K, key: string): Promise<Models[K] | undefined> {
    const record = await this.#records.get(kind, key);
    return record === undefined ? undefined : { ...(record.value as Models[K]), version: record.version };
  }

  async #must<K extends Kind>(kind: K, key: string): Promise<Models[K]> {
    const value = await this.#get(kind, key);
    if (value === undefined) throw new NotFoundError(missing[kind], key);
    return value;
  }

  async #list<K extends Kind>(kind: K): Promise<Models[K][]> {
    const records = await this.#records.list(kind);
    return records.map((r) => ({ ...(r.value as Models[K]), version: r.version }));
  }
}

function keyOf(kind: Kind, value: Models[Kind]): string {
  return kind === 'media' ? (value as Media).mediaId : (value as Robot | Drive | VolumePool).name;
}

/** A put at `expectVersion` (0: the record must be new); the stored value carries the version it is written with. */
function put(kind: EmmRecordKind, key: string, value: { version: number }, expectVersion = 0): EmmWrite {
  return { op: 'put', kind, key, expectVersion, value: { ...value, version: expectVersion + 1 } };
}

/** Rewrites a record unchanged with the next version: concurrent changes that read it look again. */
function touch(kind: EmmRecordKind, value: { name: string; version: number }): EmmWrite {
  return put(kind, value.name, value, value.version);
}

function del(kind: EmmRecordKind, key: string, expectVersion: number): EmmWrite {
  return { op: 'delete', kind, key, expectVersion };
}

/** Whether a volume is one `listMedia(filter)` lists: every field the filter gives matches. */
export function matchesMediaFilter(media: Media, filter: MediaFilter): boolean {
  return (filter.pool === undefined || media.pool === filter.pool) && (filter.robot === undefined || media.robot === filter.robot) && (filter.state === undefined || media.state === filter.state);
}
