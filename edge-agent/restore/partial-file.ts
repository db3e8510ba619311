import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, realpath, unlink, type FileHandle } from './fs-names.ts';
import path from 'node:path';
import { parseMemberPath } from './safe-path.ts';

/**
 * A pieced file carried from one Read of a tape restore job to the next
 * (its pieces are on two or more volumes, and each volume is one Read, in
 * its own process): the pieces written so far, kept between Reads next to
 * the file's final name under a name that says what it is,
 * `.cairn-partial-<job>-<16 hex of sha256(path)>`, private (0600). Nothing is
 * restored under the file's own name until the Read holding its last piece
 * has checked the whole file's sha256.
 */
export const PARTIAL_PREFIX = '.cairn-partial-';

/** Bytes read at a time when the partial file is hashed again. */
const REHASH_CHUNK = 1024 * 1024;

/** The partial file's name for the member at `absolute` (relative path `relative`) in the job tagged `tag`. */
export function partialPathOf(absolute: string, relative: string, tag: string): string {
  const id = createHash('sha256').update(relative).digest('hex').slice(0, 16);
  return path.join(path.dirname(absolute), `${PARTIAL_PREFIX}${tag}-${id}`);
}

/** A partial file reopened to continue: its handle and the sha256 state of its bytes. */
export interface ReopenedPartial {
  handle: FileHandle;
  hash: Hash;
}

/**
 * Reopens the partial file at `partial` to continue it from file byte
 * `fileOffset`: it must be a regular file (not followed if a symlink),
 * with one link, readable by its owner only, and hold exactly `fileOffset`
 * bytes; its bytes are read again and hashed (node's Hash cannot be saved
 * between processes: the cost is one read of the part already written).
 * Returns why it cannot be continued otherwise (the handle is closed), and
 * whether it is a partial file a Read kept (then the caller removes it: no
 * Read can continue it).
 */
export async function reopenPartial(partial: string, fileOffset: number): Promise<ReopenedPartial | { problem: string; remove: boolean }> {
  let handle: FileHandle;
  try {
    handle = await open(partial, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'is not there' : code === 'ELOOP' ? 'is a symbolic link' : `cannot be opened (${code ?? String(error)})`;
    return { problem: `its partial file ${partial}, the pieces before file byte ${fileOffset} from the Read before, ${why}`, remove: false };
  }
  try {
    const stats = await handle.stat();
    const problem = !stats.isFile()
      ? 'is not a regular file'
      : stats.nlink !== 1
        ? `has ${stats.nlink} links`
        : (stats.mode & 0o077) !== 0
          ? `has mode ${(stats.mode & 0o777).toString(8)}, not private`
          : stats.size !== fileOffset
            ? `holds ${stats.size} bytes, and the index places the pieces on this volume from file byte ${fileOffset}`
            : undefined;
    if (problem !== undefined) {
      await handle.close();
      // Only a private regular file of the wrong size may be removed: anything else there is not one a Read kept.
      return { problem: `its partial file ${partial} ${problem}`, remove: stats.isFile() && stats.nlink === 1 && (stats.mode & 0o077) === 0 };
    }
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(REHASH_CHUNK);
    for (let position = 0; position < fileOffset; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(REHASH_CHUNK, fileOffset - position), position);
      if (bytesRead === 0) {
        await handle.close();
        return { problem: `its partial file ${partial} ends at byte ${position}, before ${fileOffset}`, remove: true };
      }
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    return { handle, hash };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Removes the partial file of the file at client path `clientPath` that a
 * Read will not continue: only in a real directory inside `targetDir` (a
 * parent that resolves elsewhere is left alone), never followed (unlink
 * removes a symlink itself). Nothing there is no error.
 */
export async function removePartialOf(targetDir: string, clientPath: string, tag: string): Promise<void> {
  const parsed = parseMemberPath(clientPath.replace(/^\/+/, ''));
  if ('refused' in parsed) return;
  const absolute = path.join(targetDir, parsed.relative);
  const root = await realpath(targetDir).catch(() => undefined);
  const parent = await realpath(path.dirname(absolute)).catch(() => undefined);
  if (root === undefined || parent === undefined || (parent !== root && !parent.startsWith(`${root}${path.sep}`))) return;
  await unlink(path.join(parent, path.basename(partialPathOf(absolute, parsed.relative, tag)))).catch(() => undefined);
}
