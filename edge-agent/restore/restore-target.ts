import { constants, type Stats } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import { describeFsError } from '../reader/fs-errors.ts';

/**
 * What a restore does when its target already holds entries (NetBackup's
 * overwrite / keep-existing choice): `refuse` writes nothing into a
 * non-empty directory; `overwrite` replaces existing files, symlinks and
 * links; `rename` keeps each entry that would be replaced as
 * `NAME.cairn-old[.N]` and lists it. Directories are always merged into.
 */
export type ExistingEntries = 'refuse' | 'overwrite' | 'rename';

/**
 * Checks, before anything is read or written, that the target is (or can be
 * created as) a directory this process may write to. Rejects with 20 when
 * the target is, or lies under, something that is not a directory, and 174
 * when it cannot be written; the message names the path that is in the way.
 */
export async function checkTarget(targetDir: string): Promise<void> {
  const target = path.resolve(targetDir);
  let existing = target;
  let stats = await statOrUndefined(existing);
  while (!stats) {
    const parent = path.dirname(existing);
    if (parent === existing) return;
    existing = parent;
    stats = await statOrUndefined(existing);
  }
  if (!stats.isDirectory()) {
    const where = existing === target ? `is ${kindOf(stats)}` : `is under ${existing}, which is ${kindOf(stats)}`;
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `restore target ${target} ${where}, not a directory`);
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch (error) {
    const what = existing === target ? `restore target ${target} is not writable` : `cannot create restore target ${target}: ${existing} is not writable`;
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `${what}: ${describeFsError(error)}`, { cause: error });
  }
}

/**
 * With `refuse`, rejects (20) when the target exists and is not empty,
 * naming it and one entry in it. Called after the image has been checked and
 * before anything is written.
 */
export async function checkExisting(targetDir: string, existing: ExistingEntries): Promise<void> {
  if (existing !== 'refuse') return;
  const target = path.resolve(targetDir);
  let names: string[];
  try {
    names = await readdir(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot read restore target ${target}: ${describeFsError(error)}`, { cause: error });
  }
  if (names.length === 0) return;
  names.sort();
  const more = names.length > 1 ? ` and ${names.length - 1} more` : '';
  throw new CairnError(
    StatusCode.INVALID_COMMAND_USAGE,
    `restore target ${target} is not empty (it holds ${JSON.stringify(names[0])}${more}); nothing was restored. ` +
      'Restore into a new or empty directory, or give --overwrite to replace existing files, or --rename-existing to keep each one as NAME.cairn-old',
  );
}

async function statOrUndefined(absolute: string): Promise<Stats | undefined> {
  try {
    return await stat(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: something above is not a directory; the walk up finds it.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new CairnError(StatusCode.SYSTEM_ERROR_DURING_RESTORE, `cannot inspect restore target ${absolute}: ${describeFsError(error)}`, { cause: error });
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'a special file';
}
