import path from 'node:path';

/**
 * Restore's first line of defence: a member name is accepted only as a
 * relative path made of plain segments, so joining it to the target
 * directory cannot climb out of it. (The second line, checking that no
 * parent inside the target is a symlink, needs the file system and lives in
 * the extractor.)
 */
export type MemberPath = { segments: string[]; relative: string } | { refused: string };

export function parseMemberPath(name: string): MemberPath {
  if (name.includes('\0')) return { refused: 'name contains a NUL byte' };
  if (name.startsWith('/')) return { refused: 'absolute path' };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { refused: 'path contains a ".." segment' };
  if (segments.length === 0) return { refused: 'empty path' };
  return { segments, relative: segments.join('/') };
}

/** A path as an operator gives it (absolute, or relative to `/`) → the client path it names. */
export function selectionRoot(p: string): string {
  return path.posix.resolve('/', p);
}

/** Whether `clientPath` is `root` or lies under it. */
export function isAtOrUnder(clientPath: string, root: string): boolean {
  return root === '/' || clientPath === root || clientPath.startsWith(`${root}/`);
}

/**
 * `paths` as an operator gives them (absolute client paths, or relative to
 * `/`) → a test for client paths equal to or under one of them.
 */
export function pathSelector(paths: readonly string[]): (clientPath: string) => boolean {
  const roots = paths.map(selectionRoot);
  if (roots.includes('/')) return () => true;
  return (clientPath) => roots.some((root) => isAtOrUnder(clientPath, root));
}
