import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { Drive, Media, Robot, VolumePool } from '#core/model/tape-media.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { MediaStore, Reservation } from '#core/ports/media-store.ts';

/**
 * The storage listings as `cairn storage-unit list`, `robot list` and
 * `pool list` print them with --json, shared with the activity monitor's
 * Storage page (cli/monitor/storage-routes.ts), so both count the same way.
 */

/** A storage unit and the concurrent-job slots jobs hold on it now. */
export type StorageUnitInUse = StorageUnit & { inUse: number };

export async function listStorageUnitsInUse(config: ConfigStore, media: MediaStore): Promise<StorageUnitInUse[]> {
  return storageUnitsInUse(await config.listStorageUnits(), await media.listReservations());
}

export function storageUnitsInUse(units: StorageUnit[], reservations: Reservation[]): StorageUnitInUse[] {
  return units.map((u) => ({ ...u, inUse: reservations.filter((r) => r.kind === 'storage-unit-slot' && r.storageUnit === u.name).length }));
}

/** A robot with its drives' names (by name) and how many volumes the media database places in it. */
export type RobotRow = Robot & { drives: string[]; volumes: number };

export async function listRobotRows(emm: MediaDatabase): Promise<RobotRow[]> {
  const [robots, drives, media] = await Promise.all([emm.listRobots(), emm.listDrives(), emm.listMedia()]);
  return robotRows(robots, drives, media);
}

export function robotRows(robots: Robot[], drives: Drive[], media: Media[]): RobotRow[] {
  return robots.map((r) => ({ ...r, drives: drives.filter((d) => d.robot === r.name).map((d) => d.name), volumes: media.filter((m) => m.robot === r.name).length }));
}

/** A volume pool and how many volumes it holds. */
export type PoolRow = VolumePool & { volumes: number };

export async function listPoolRows(emm: MediaDatabase): Promise<PoolRow[]> {
  const [pools, media] = await Promise.all([emm.listPools(), emm.listMedia()]);
  return poolRows(pools, media);
}

export function poolRows(pools: VolumePool[], media: Media[]): PoolRow[] {
  return pools.map((p) => ({ ...p, volumes: media.filter((m) => m.pool === p.name).length }));
}

/**
 * Everything the storage listings count from, each read once: the units
 * (Config table), the reservations, robots, drives, pools and every volume
 * (on AWS each a Query of its partition of the Media table). The monitor's
 * Storage page builds all its rows from one of these per load.
 */
export interface StorageRecords {
  units: StorageUnit[];
  reservations: Reservation[];
  robots: Robot[];
  drives: Drive[];
  pools: VolumePool[];
  media: Media[];
}

export async function readStorageRecords(config: ConfigStore, media: MediaStore, emm: MediaDatabase): Promise<StorageRecords> {
  const [units, reservations, robots, drives, pools, volumes] = await Promise.all([config.listStorageUnits(), media.listReservations(), emm.listRobots(), emm.listDrives(), emm.listPools(), emm.listMedia()]);
  return { units, reservations, robots, drives, pools, media: volumes };
}
