import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ExcludeMatcher } from './exclude.ts';
import { describeFsError } from './fs-errors.ts';
import { fsPathOf, nameFromBytes } from '#core/model/file-name.ts';

/**
 * One thing found on the client, with the `lstat` taken when it was found.
 * `path` is the name the image records (tar member, index, exclude rules,
 * problems): the path on the client as the operator knows it. `sourcePath`
 * is what is opened and stat'ed: the same path, or the same file under
 * another root (a snapshot mount, a device), so a frozen copy is backed up
 * under its original names.
 */
export interface WalkEntry {
  path: string;
  sourcePath: string;
  stats: BigIntStats;
}

/**
 * A selection to back up: a path, or a path whose tree is read from
 * `sourceRoot` (`/home` read from `/mnt/snap/home` is recorded as `/home/...`).
 */
export type Selection = string | { path: string; sourceRoot: string };

export interface WalkHooks {
  exclude: ExcludeMatcher;
  /** Something that could not be walked; the walk goes on without it. */
  onProblem: (path: string, reason: string) => void;
  onExcluded?: (path: string) => void;
  /** How many entries of a directory are stat'ed in one batch; the next batch is asked for once the walk is halfway through this one (default 64). */
  statAhead?: number;
  /**
   * Stats a batch of paths without following symlinks, one result per path
   * in order (default: `fs.promises.lstat` of each, in parallel). The
   * backup gives the reader thread's, which makes a batch one message.
   */
  lstat?: (paths: string[]) => Promise<Array<{ stats: BigIntStats } | { error: unknown }>>;
  /**
   * Go into directories on another device than their selection root's
   * (default false, as bpbkar and `tar --one-file-system`): without it such
   * a directory (a mount point, or a btrfs subvolume, which has its own
   * device number) is yielded, its contents are not.
   */
  crossMountPoints?: boolean;
}

const DEFAULT_STAT_AHEAD = 64;

function lstatEach(paths: string[]): Promise<Array<{ stats: BigIntStats } | { error: unknown }>> {
  return Promise.all(
    paths.map((p) =>
      lstat(fsPathOf(p), { bigint: true }).then(
        (stats) => ({ stats }),
        (error: unknown) => ({ error }),
      ),
    ),
  );
}

/**
 * Depth-first walk of already stat'ed selection roots, in a deterministic
 * order: each directory before its contents, the contents sorted by name.
 *
 * Symbolic links are yielded as links and never followed. Mount points are
 * crossed only with `crossMountPoints`. Children are stat'ed in batches, one batch ahead of the walk, so
 * memory holds one sorted name list and two batches of stats per open
 * directory level, never the tree.
 */
export async function* walk(roots: readonly WalkEntry[], hooks: WalkHooks): AsyncGenerator<WalkEntry, void, undefined> {
  for (const root of roots) yield* walkFrom(root, hooks, hooks.crossMountPoints === true ? undefined : root.stats.dev);
}

/** `device`: the selection root's device when mount points are not crossed. */
async function* walkFrom(entry: WalkEntry, hooks: WalkHooks, device: bigint | undefined): AsyncGenerator<WalkEntry, void, undefined> {
  yield entry;
  if (!entry.stats.isDirectory()) return;
  if (device !== undefined && entry.stats.dev !== device) return;
  let names: string[];
  try {
    // Names are read as bytes: one that is not UTF-8 becomes a string that keeps its bytes (core/model/file-name.ts), opened by them again.
    names = (await readdir(fsPathOf(entry.sourcePath), { encoding: 'buffer' })).map(nameFromBytes);
  } catch (error) {
    hooks.onProblem(entry.path, `cannot read directory: ${describeFsError(error)}`);
    return;
  }
  names.sort();
  const children: string[] = [];
  for (const name of names) {
    const child = path.join(entry.path, name);
    if (hooks.exclude(child)) {
      hooks.onExcluded?.(child);
    } else {
      children.push(name);
    }
  }
  // Stat the children in batches, the next one asked for halfway through walking this one: one round trip after another is what makes a walk slow.
  const size = Math.max(1, hooks.statAhead ?? DEFAULT_STAT_AHEAD);
  const statBatch = hooks.lstat ?? lstatEach;
  const batch = (from: number): Promise<Array<{ stats: BigIntStats } | { error: unknown }>> | undefined => {
    if (from >= children.length) return undefined;
    const pending = statBatch(children.slice(from, from + size).map((name) => path.join(entry.sourcePath, name)));
    pending.catch(() => undefined); // awaited in turn; a walk stopped early must not leave it unhandled
    return pending;
  };
  let next = batch(0);
  for (let from = 0; next; from += size) {
    const results = await next;
    next = undefined;
    const half = Math.floor((results.length - 1) / 2);
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      const name = children[from + i]!;
      const child = path.join(entry.path, name);
      if ('error' in result) hooks.onProblem(child, describeFsError(result.error, 'vanished during backup'));
      else yield* walkFrom({ path: child, sourcePath: path.join(entry.sourcePath, name), stats: result.stats }, hooks, device);
      if (i === half) next = batch(from + size);
    }
  }
}

/**
 * Turns the task's selections into walk roots: absolute, normalised, without
 * duplicates or selections already inside another one (a path is backed up
 * once, read from the outer selection's source), excluded ones dropped.
 * Selections that cannot be stat'ed are returned in `missing` with their
 * reasons. Names in all three are the recorded paths, never source paths.
 */
export async function statSelections(selections: readonly Selection[], exclude: ExcludeMatcher): Promise<{ roots: WalkEntry[]; missing: Array<{ path: string; reason: string }>; excluded: string[] }> {
  const sources = new Map<string, string>();
  for (const selection of selections) {
    const recorded = path.resolve(typeof selection === 'string' ? selection : selection.path);
    if (!sources.has(recorded)) sources.set(recorded, typeof selection === 'string' ? recorded : path.resolve(selection.sourceRoot));
  }
  const normalised = [...sources.keys()];
  const kept = normalised.filter((p) => !normalised.some((other) => other !== p && isInside(p, other)));
  const roots: WalkEntry[] = [];
  const missing: Array<{ path: string; reason: string }> = [];
  const excluded: string[] = [];
  for (const selection of kept) {
    if (exclude(selection)) {
      excluded.push(selection);
      continue;
    }
    const sourcePath = sources.get(selection)!;
    try {
      roots.push({ path: selection, sourcePath, stats: await lstat(sourcePath, { bigint: true }) });
    } catch (error) {
      missing.push({ path: selection, reason: describeFsError(error, 'does not exist') });
    }
  }
  return { roots, missing, excluded };
}

function isInside(child: string, parent: string): boolean {
  return parent === '/' ? child !== '/' : child.startsWith(`${parent}/`);
}
