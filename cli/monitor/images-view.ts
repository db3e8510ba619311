import { primaryCopy, type Image } from '#core/model/image.ts';
import type { IndexEntry } from '#core/model/task.ts';
import { HttpError } from './http-reply.ts';

/*
 * The Images area's views and the checks of what the page sends: paths,
 * the restore's body, paging. Every refusal is a 400 naming the field and
 * the value rejected; nothing here reads or writes anything.
 */

/** One image in the list, as `cairn images` shows it. */
export interface ImageRow {
  backupId: string;
  client: string;
  policy: string;
  schedule: string;
  level: string;
  statusCode: number;
  state: string;
  createdAt: string;
  expiresAt: string;
  bytes: number;
  fileCount: number;
  storageUnit: string;
  copies: { copyNumber: number; storageUnit: string; expiresAt?: string }[];
  broken?: boolean;
}

export function imageRow(image: Image): ImageRow {
  return {
    backupId: image.backupId,
    client: image.client,
    policy: image.policy,
    schedule: image.schedule,
    level: image.level,
    statusCode: image.statusCode,
    state: image.state,
    createdAt: image.createdAt,
    expiresAt: image.expiresAt,
    bytes: image.bytes,
    fileCount: image.fileCount,
    storageUnit: primaryCopy(image).storageUnit,
    copies: image.copies.map((c) => ({ copyNumber: c.copyNumber, storageUnit: c.storageUnit, ...(c.expiresAt ? { expiresAt: c.expiresAt } : {}) })),
    ...(image.broken ? { broken: true } : {}),
  };
}

/** One entry of a directory or a search, as the page shows it. */
export interface EntryRow {
  path: string;
  /** The last part of the path. */
  name: string;
  type: IndexEntry['type'];
  mode: number;
  size: number;
  mtimeMs: number;
  linkTarget?: string;
  /** The image the entry's data is in when not the one listed (an incremental's unchanged file, another stream's image). */
  fromBackupId?: string;
  /** A directory the index has no line for, above what was backed up (its mode, size and time are unknown: 0). */
  implied?: true;
}

export function entryRow(entry: IndexEntry): EntryRow {
  return {
    path: entry.path,
    name: entry.path === '/' ? '/' : entry.path.slice(entry.path.lastIndexOf('/') + 1),
    type: entry.type,
    mode: entry.mode,
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    ...(entry.linkTarget === undefined ? {} : { linkTarget: entry.linkTarget }),
    ...(entry.fromBackupId === undefined ? {} : { fromBackupId: entry.fromBackupId }),
  };
}

const MAX_PATH = 4096;

/**
 * A value of the page's body as a refusal names it: a string quoted (cut at
 * 200 characters), anything else by its kind. Never JSON.stringify of what
 * was sent: an array nested 500,000 deep (1 MB of `[`) overflows its stack,
 * which was a 500 instead of a 400.
 */
function described(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

/**
 * An absolute client or target path: it starts with `/`, has no `.` or `..`
 * part, no empty part and no NUL. `field` names it in the refusal.
 */
export function checkAbsolutePath(field: string, value: unknown): string {
  if (value === undefined || value === null || value === '') throw new HttpError(400, `${field}: missing (an absolute path, e.g. /home/user)`);
  if (typeof value !== 'string') throw new HttpError(400, `${field}: ${described(value)} is not a string`);
  const shown = described(value);
  if (value.length > MAX_PATH) throw new HttpError(400, `${field}: ${shown} is longer than ${MAX_PATH} characters`);
  if (!value.startsWith('/')) throw new HttpError(400, `${field}: ${shown} is not an absolute path (it must start with /)`);
  if (value.includes('\0')) throw new HttpError(400, `${field}: ${shown} holds a NUL character`);
  if (value === '/') return value;
  const parts = value.replace(/\/$/, '').slice(1).split('/');
  if (parts.some((p) => p === '..' || p === '.')) throw new HttpError(400, `${field}: ${shown} has a . or .. part: give the path itself`);
  if (parts.some((p) => p === '')) throw new HttpError(400, `${field}: ${shown} has an empty part (//)`);
  return value.replace(/\/$/, '');
}

/** What `POST /api/images/:id/restore` takes. */
export interface RestoreBody {
  paths: string[];
  targetDir: string;
  existing: 'refuse' | 'overwrite' | 'rename';
}

const EXISTING = ['refuse', 'overwrite', 'rename'] as const;
/** The most paths one restore from the page names (each picked by hand). */
export const MAX_RESTORE_PATHS = 10_000;

/** The restore's body: `paths` (1 to MAX_RESTORE_PATHS image paths), `targetDir` (absolute), `existing` (default refuse); anything else is named and refused. */
export function parseRestoreBody(body: unknown): RestoreBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object with paths and targetDir');
  const { paths, targetDir, existing, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new HttpError(400, `${unknown.join(', ')}: not a field of a restore (paths, targetDir, existing)`);
  if (!Array.isArray(paths) || paths.length === 0) throw new HttpError(400, 'paths: give at least one path of the image to restore');
  if (paths.length > MAX_RESTORE_PATHS) throw new HttpError(400, `paths: ${paths.length} paths, more than ${MAX_RESTORE_PATHS}: restore their directory instead`);
  const checked = paths.map((p, i) => checkAbsolutePath(`paths[${i}]`, p));
  const target = checkAbsolutePath('targetDir', targetDir);
  if (existing !== undefined && !(EXISTING as readonly unknown[]).includes(existing)) throw new HttpError(400, `existing: ${described(existing)} is not one of ${EXISTING.join(', ')}`);
  return { paths: [...new Set(checked)], targetDir: target, existing: (existing as RestoreBody['existing'] | undefined) ?? 'refuse' };
}

/** A query's paging: `offset` (default 0) and `limit` (default DEFAULT_PAGE, at most MAX_PAGE). */
export const DEFAULT_PAGE = 500;
export const MAX_PAGE = 5000;

export function parsePaging(params: URLSearchParams): { offset: number; limit: number } {
  const number = (name: string, fallback: number, max: number): number => {
    const text = params.get(name);
    if (text === null || text === '') return fallback;
    if (!/^\d{1,9}$/.test(text) || Number(text) > max) throw new HttpError(400, `${name}: ${JSON.stringify(text)} is not a whole number from 0 to ${max}`);
    return Number(text);
  };
  return { offset: number('offset', 0, 1e9), limit: Math.max(1, number('limit', DEFAULT_PAGE, MAX_PAGE)) };
}

/** Refuses query parameters a route does not take, naming them (a misspelt `pth=` would otherwise list `/`). */
export function checkParams(params: URLSearchParams, allowed: readonly string[]): void {
  const unknown = [...new Set(params.keys())].filter((name) => !allowed.includes(name));
  if (unknown.length > 0) throw new HttpError(400, `${unknown.join(', ')}: not a parameter here (${allowed.join(', ')})`);
}

/** A directory only implied by deeper paths (image-browse.ts browseImageDirectory). */
function impliedRow(path: string): EntryRow {
  return { path, name: path.slice(path.lastIndexOf('/') + 1), type: 'directory', mode: 0, size: 0, mtimeMs: 0, implied: true };
}

/** A page of a directory's entries: the directory itself left out, directories first, then by name. */
export function pageOfEntries(entries: readonly IndexEntry[], dir: string, paging: { offset: number; limit: number }, implied: readonly string[] = []): { entries: EntryRow[]; total: number; offset: number; limit: number } {
  const inside = [...entries.filter((e) => e.path !== dir).map(entryRow), ...implied.map(impliedRow)];
  inside.sort((a, b) => Number(b.type === 'directory') - Number(a.type === 'directory') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries: inside.slice(paging.offset, paging.offset + paging.limit), total: inside.length, ...paging };
}
