import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { fsPathOf, nameFromBytes } from '#core/model/file-name.ts';

/**
 * The file-system calls restore makes by path, taking Cairn's path strings:
 * a name that is not UTF-8 (its bytes kept as lone surrogates,
 * core/model/file-name.ts) is handed to the kernel as its bytes, every
 * other name as the string it is (one regex test). Restore imports these
 * instead of node:fs/promises' own.
 */
export type { FileHandle } from 'node:fs/promises';

export const chmod = (p: string, mode: number): Promise<void> => fs.chmod(fsPathOf(p), mode);
export const lchown = (p: string, uid: number, gid: number): Promise<void> => fs.lchown(fsPathOf(p), uid, gid);
export const link = (existing: string, p: string): Promise<void> => fs.link(fsPathOf(existing), fsPathOf(p));
export const lstat = (p: string): Promise<Stats> => fs.lstat(fsPathOf(p));
export const lutimes = (p: string, atime: number, mtime: number): Promise<void> => fs.lutimes(fsPathOf(p), atime, mtime);
export const utimes = (p: string, atime: number, mtime: number): Promise<void> => fs.utimes(fsPathOf(p), atime, mtime);
export const mkdir = async (p: string, mode?: number | { recursive: true }): Promise<void> => {
  await fs.mkdir(fsPathOf(p), mode);
};
export const open = (p: string, flags: number | string, mode?: number): Promise<fs.FileHandle> => fs.open(fsPathOf(p), flags, mode);
export const rename = (from: string, to: string): Promise<void> => fs.rename(fsPathOf(from), fsPathOf(to));
export const unlink = (p: string): Promise<void> => fs.unlink(fsPathOf(p));
/** The link's text is a name too: its bytes are written as they were read. */
export const symlink = (target: string, p: string): Promise<void> => fs.symlink(fsPathOf(target), fsPathOf(p));
export const realpath = async (p: string): Promise<string> => nameFromBytes(await fs.realpath(fsPathOf(p), { encoding: 'buffer' }));
