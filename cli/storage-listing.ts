import type { StorageUnit } from '#core/model/storage-unit.ts';
import type { Robot, VolumePool } from '#core/model/tape-media.ts';
import type { ConfigStore } from '#core/ports/config-store.ts';
import type { MediaDatabase } from '#core/ports/media-manager.ts';
import type { MediaStore } from '#core/ports/media-store.ts';

/**
 * The storage listings as `cairn storage-unit list`, `robot list` and
 * `pool list` print them with --json, shared with the activity monitor's
 * Storage page (cli/monitor/storage-routes.ts), so both count the same way.
 */

/** A storage unit and the concurrent-job slots jobs hold on it now. */
export type StorageUnitInUse = StorageUnit & { inUse: number };

export async function listStorageUnitsInUse(config: ConfigStore, media: MediaStore): Promise<StorageUnitInUse[]> {
  const units = await config.listStorageUnits();
  const reservations = await media.listReservations();
  return units.map((u) => ({ ...u, inUse: reservations.filter((r) => r.kind === 'storage-unit-slot' && r.storageUnit === u.name).length }));
}

/** A robot with its drives' names (by name) and how many volumes the media database places in it. */
export type RobotRow = Robot & { drives: string[]; volumes: number };

export async function listRobotRows(emm: MediaDatabase): Promise<RobotRow[]> {
  const [robots, drives, media] = await Promise.all([emm.listRobots(), emm.listDrives(), emm.listMedia()]);
  return robots.map((r) => ({ ...r, drives: drives.filter((d) => d.robot === r.name).map((d) => d.name), volumes: media.filter((m) => m.robot === r.name).length }));
}

/** A volume pool and how many volumes it holds. */
export type PoolRow = VolumePool & { volumes: number };

export async function listPoolRows(emm: MediaDatabase): Promise<PoolRow[]> {
  const media = await emm.listMedia();
  return (await emm.listPools()).map((p) => ({ ...p, volumes: media.filter((m) => m.pool === p.name).length }));
}
