/// <reference lib="dom" />
import { answer } from './api.ts';

/**
 * The Storage page's calls (cli/monitor/storage-routes.ts): the records as
 * `cairn storage-unit | robot | drive | pool | media list --json` give them,
 * with the job holding each drive and volume (`heldBy`).
 */

export interface StorageUnitRow {
  name: string;
  kind: 'disk' | 's3' | 'tape';
  maxConcurrentJobs: number;
  inUse: number;
  fragmentSizeBytes: number;
  path?: string;
  bucket?: string;
  prefix?: string;
  robot?: string;
  pool?: string;
  index?: { name: string };
  compression?: { codec: string; level?: number };
}

export interface RobotRow {
  name: string;
  changer: { type: 'mtx'; device: string } | { type: 'changer-script'; script: string; changerDevice: string };
  client?: string;
  fileTapeCapacityBytes?: number;
  drives: string[];
  volumes: number;
}

export interface DriveRow {
  name: string;
  robot: string;
  index: number;
  path: string;
  blockSize: number;
  state: 'UP' | 'DOWN';
  downReason?: string;
  errorCount: number;
  loaded?: { mediaId: string; since: string };
  lastUsedAt?: string;
  heldBy?: number;
}

export interface PoolRow {
  name: string;
  description: string;
  volumes: number;
}

export interface MediaRow {
  mediaId: string;
  pool: string;
  state: 'UNASSIGNED' | 'ACTIVE' | 'FULL' | 'FROZEN' | 'SUSPENDED';
  heldFrom?: string;
  robot?: string;
  slot?: number;
  drive?: string;
  lastRobot?: string;
  capacityBytes?: number;
  bytesWritten: number;
  tapeFiles: number;
  images: string[];
  expiresAt?: string;
  errors: unknown[];
  heldBy?: number;
}

export interface StorageOverview {
  units: StorageUnitRow[];
  robots: RobotRow[];
  drives: DriveRow[];
  pools: PoolRow[];
  /** The volumes of the filters the overview was asked with. */
  media: MediaRow[];
}

export interface MediaFilters {
  pool: string;
  state: string;
}

export const MEDIA_STATES = ['UNASSIGNED', 'ACTIVE', 'FULL', 'FROZEN', 'SUSPENDED'];

/** One load of the page: every table, and the volumes of `filters`, in one request (the server reads each listing once). */
export async function fetchStorage(filters: MediaFilters): Promise<StorageOverview> {
  const query = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
  return answer<StorageOverview>(await fetch(`/api/storage?${query.toString()}`));
}

export type DriveVerb = 'up' | 'down' | 'reset';

/** `cairn drive up|down [--reason R]|reset NAME` from the page (the server records who took it down). */
export async function driveAction(name: string, verb: DriveVerb, reason = ''): Promise<DriveRow> {
  const body = verb === 'down' && reason.trim() !== '' ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ reason: reason.trim() }) } : { method: 'POST' };
  return answer<DriveRow>(await fetch(`/api/storage/drives/${encodeURIComponent(name)}/${verb}`, body));
}

/** `cairn media freeze|unfreeze ID` from the page. */
export async function mediaAction(mediaId: string, verb: 'freeze' | 'unfreeze'): Promise<MediaRow> {
  return answer<MediaRow>(await fetch(`/api/storage/media/${encodeURIComponent(mediaId)}/${verb}`, { method: 'POST' }));
}
