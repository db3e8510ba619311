import { CairnError } from '#core/errors.ts';
import { primaryCopy, type Fragment, type Image, type ImageCopy } from '#core/model/image.ts';
import type { FragmentSource } from '#core/ports/fragment-sink.ts';
import { objectStoreFragmentSource } from '../image/object-store-fragments.ts';
import type { IndexEntry } from '#core/model/task.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { StatusCode } from '#core/status-codes.ts';
import { readTrustedManifest, trustedChunkTable, trustedIndex, trustedIndexChunk } from './image-trust.ts';
import { chunkMayHoldPath, chunkMayHoldSubtree, type IndexChunk, type IndexChunkTable } from '../image/index-chunks.ts';
import type { ProblemList } from '../reader/problems.ts';
import { MemberRanges, type MemberRange } from './member-ranges.ts';
import { isAtOrUnder, selectionRoot } from './safe-path.ts';
import type { MemberDecision } from './tar-extractor.ts';

/** What a point-in-time restore expects of a file it takes from an earlier image: the final image's index line says so. */
export interface ExpectedContent {
  sha256: string;
  size: number;
}

/** Which index lines of an image to restore. */
export type Selection =
  | { kind: 'all' }
  /** Operator paths, each with everything under it; each must match something. */
  | { kind: 'paths'; paths: readonly string[] }
  /** Exactly these files, with the content another image's index promises (`by`). */
  | { kind: 'picks'; picks: ReadonlyMap<string, ExpectedContent>; by: string };

export interface PlanOptions {
  /** The storage unit of the copy read: its manifest and index. */
  store: ObjectStore;
  /** The catalog record: the root of trust. */
  image: Image;
  /** The copy to read (default: the primary, copy 1). */
  copy?: ImageCopy;
  /** Reads the copy's fragments by location (default: objects in `store`). */
  fragmentSource?: FragmentSource;
  selection: Selection;
  /** Where problems with wanted lines are listed (with the line left out of the restore). */
  failures: ProblemList;
  /**
   * Selected lines whose data is in an earlier image (`fromBackupId`): a
   * point-in-time restore takes them from there. Without it such lines are
   * not restorable from this image and do not count as matches.
   */
  onUnchanged?: (entry: IndexEntry & { sha256: string; fromBackupId: string }) => void;
}

/** One image's share of a restore, decided from its verified index before anything is written. */
export interface ImagePlan {
  image: Image;
  /** The copy read, its storage unit, and where its fragments are read from. */
  copy: ImageCopy;
  store: ObjectStore;
  fragmentSource: FragmentSource;
  /** The catalog's fragments of the copy holding wanted members, in order. */
  fragments: Fragment[];
  /**
   * The spans of a fragment to read (in order) when the restore wants a
   * small part of it; undefined when it is read whole (every full restore).
   */
  rangesOf(fragment: Fragment): MemberRange[] | undefined;
  /**
   * The index lines the members read are matched against, in index order:
   * the selected lines kept from the plan's pass over the verified index
   * when a selective restore wants few of them (the index is then read
   * once), else the whole index read again.
   */
  lines(): AsyncGenerator<IndexEntry, void, undefined>;
  /** The wanted block-diff lines (`unchangedBlocksIn`) whose data is in this image: the block chain checks their earlier versions. */
  blockDiffs: readonly IndexEntry[];
  /** Appended to paths in failures, to say which image a file came from (point in time). */
  source: string;
  /** Whether this restore wants the member at a client path (whether or not it can be trusted). */
  wants(clientPath: string): boolean;
  /** Restore a member with this line, and the sha256 its content must have? */
  decide(entry: IndexEntry): MemberDecision;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** A selective restore keeps up to this many selected index lines (a few MB) rather than read the index a second time. */
const KEPT_LINES = 20_000;

/**
 * Checks the image against its catalog record (manifest, then a pass over
 * the index) and decides what to restore: which lines, which fragments.
 * Nothing is written. The pass reads the whole index (which verifies its
 * sha256), or, for a selective restore of a copy whose index has a chunk
 * table the catalog vouches for, only the chunks that can hold the wanted
 * paths (each verified against the table).
 *
 * Lines that cannot be trusted (a file without a sha256, a fragment the
 * catalog does not list, a point-in-time pick whose content differs from
 * what the final image says) are listed in `failures` and left out.
 * Rejects with 2001 when the manifest or index is missing or disagrees with
 * the catalog, and with 227 when an operator path matches nothing (naming
 * the paths and the image).
 */
export async function planImage(options: PlanOptions): Promise<ImagePlan> {
  const { image, store, selection, failures } = options;
  const copy = options.copy ?? primaryCopy(image);
  const chunks = trustedChunkTable(copy, await readTrustedManifest(store, image, copy));
  const catalogFragments = new Map(copy.fragments.map((f) => [f.number, f]));
  const source = selection.kind === 'picks' ? ` (from image ${image.backupId})` : '';
  const roots = selection.kind === 'paths' ? selection.paths.map((given) => ({ given, root: selectionRoot(given), matched: false, unchangedIn: undefined as string | undefined })) : [];
  const selects = (clientPath: string): boolean => {
    switch (selection.kind) {
      case 'all':
        return true;
      case 'paths':
        return roots.some((r) => isAtOrUnder(clientPath, r.root));
      case 'picks':
        return selection.picks.has(clientPath);
    }
  };
  const linkTargets = new Set<string>();
  const blockDiffs: IndexEntry[] = [];
  const fragments = new Set<number>();
  const found = new Set<string>();
  // A selective restore reads only the spans of its members (every selected line in a listed fragment, as a whole read would meet them).
  const ranges = selection.kind === 'all' ? undefined : new MemberRanges();
  // The selected lines, with their place in the index, while there are few.
  let kept: Array<{ line: number; entry: IndexEntry }> | undefined = selection.kind === 'all' ? undefined : [];
  const keep = (line: number, entry: IndexEntry): void => {
    if (kept === undefined) return;
    if (kept.length < KEPT_LINES) kept.push({ line, entry });
    else kept = undefined;
  };

  const pass: IndexPass = { store, image, copy, chunks };
  const mayHold = selectionChunks(selection, roots);
  await eachLine(pass, mayHold, (line, entry) => {
    // A superseded copy (it changed while it was read; the file read again follows) is never read; the last copy of a
    // file that kept changing is, to be refused when its member is met (restore.ts).
    ranges?.note(entry, selects(entry.path) && catalogFragments.has(entry.fragment) && entry.changed !== 'superseded');
    if (!selects(entry.path)) return;
    keep(line, entry);
    if (entry.changed !== undefined) {
      for (const r of roots) if (isAtOrUnder(entry.path, r.root)) r.matched = true;
      if (entry.changed === 'inconsistent' && catalogFragments.has(entry.fragment)) fragments.add(entry.fragment);
      return;
    }
    if (entry.unchangedBlocksIn !== undefined && entry.fromBackupId === undefined) blockDiffs.push(entry);
    if (selection.kind === 'picks') found.add(entry.path);
    if (entry.fromBackupId !== undefined && !options.onUnchanged && selection.kind !== 'picks') {
      // Not restorable from this image: its data is elsewhere.
      for (const r of roots) if (isAtOrUnder(entry.path, r.root)) r.unchangedIn ??= entry.fromBackupId;
      return;
    }
    for (const r of roots) if (isAtOrUnder(entry.path, r.root)) r.matched = true;
    const problem = lineProblem(entry, catalogFragments) ?? (selection.kind === 'picks' ? pickProblem(entry, selection) : undefined);
    if (problem !== undefined) {
      failures.add(`${entry.path}${source}`, `the index of image ${image.backupId} ${problem}`);
      return;
    }
    if (entry.fromBackupId !== undefined) {
      options.onUnchanged?.(entry as IndexEntry & { sha256: string; fromBackupId: string });
      return;
    }
    fragments.add(entry.fragment);
    for (const run of entry.pieces ?? []) fragments.add(run.fragment);
    if (entry.type === 'hardlink' && entry.linkTarget !== undefined && !selects(entry.linkTarget)) linkTargets.add(entry.linkTarget);
  }, ranges);

  const unmatched = roots.filter((r) => !r.matched);
  if (unmatched.length > 0) throw nothingMatches(image, unmatched);
  if (selection.kind === 'picks') {
    for (const path of selection.picks.keys()) {
      if (!found.has(path)) failures.add(`${path}${source}`, `image ${selection.by} says its data is in image ${image.backupId}, whose index does not list it`);
    }
  }
  ranges?.finish();
  const targetRanges = new MemberRanges();
  if (linkTargets.size > 0) {
    // A selected hard link brings its file, which comes earlier in walk order: a second pass finds its fragment and its span.
    await eachLine(pass, (chunk) => [...linkTargets].some((target) => chunkMayHoldPath(chunk, target)), (targetLine, entry) => {
      const wanted = linkTargets.has(entry.path) && entry.fromBackupId === undefined && lineProblem(entry, catalogFragments) === undefined;
      if (wanted) for (const run of entry.pieces ?? [entry]) fragments.add(run.fragment);
      if (linkTargets.has(entry.path) && !selects(entry.path)) keep(targetLine, entry);
      targetRanges.note(entry, wanted);
    }, targetRanges);
    targetRanges.finish();
    kept?.sort((a, b) => a.line - b.line);
  }
  const keptLines = kept?.map((k) => k.entry);

  const wants = (clientPath: string): boolean => selects(clientPath) || linkTargets.has(clientPath);
  return {
    image,
    copy,
    store,
    fragmentSource: options.fragmentSource ?? objectStoreFragmentSource(store, copy.storageUnit),
    fragments: copy.fragments.filter((f) => fragments.has(f.number)),
    rangesOf: (fragment) => {
      if (ranges === undefined) return undefined;
      const own = ranges.rangesOf(fragment.number, fragment.bytes);
      if (linkTargets.size === 0) return own;
      const targets = targetRanges.rangesOf(fragment.number, fragment.bytes);
      // Both are wanted: when either half is better read whole, so is the fragment.
      const ownWanted = ranges.wants(fragment.number);
      const targetsWanted = targetRanges.wants(fragment.number);
      if ((ownWanted && own === undefined) || (targetsWanted && targets === undefined)) return undefined;
      return mergeRanges(own ?? [], targets ?? []);
    },
    lines: keptLines === undefined ? () => trustedIndex(store, image, copy) : () => listed(keptLines),
    blockDiffs,
    source,
    wants,
    decide: (entry) => {
      if (!wants(entry.path) || entry.fromBackupId !== undefined || entry.changed !== undefined || lineProblem(entry, catalogFragments) !== undefined) return { restore: false };
      if (selection.kind === 'picks') {
        const pick = selection.picks.get(entry.path);
        if (!pick || pickProblem(entry, selection) !== undefined) return { restore: false };
        return { restore: true, sha256: pick.sha256 };
      }
      return entry.type === 'file' ? { restore: true, sha256: entry.sha256 } : { restore: true };
    },
  };
}

/** The copy an index pass reads, and its chunk table when the catalog vouches for one. */
interface IndexPass {
  store: ObjectStore;
  image: Image;
  copy: ImageCopy;
  chunks: IndexChunkTable | undefined;
}

/** Which chunks of the index a plan's first pass must read: those that can hold a selected path (undefined: all of it). */
function selectionChunks(selection: Selection, roots: ReadonlyArray<{ root: string }>): ((chunk: IndexChunk) => boolean) | undefined {
  switch (selection.kind) {
    case 'all':
      return undefined;
    case 'paths':
      return (chunk) => roots.some((r) => chunkMayHoldSubtree(chunk, r.root));
    case 'picks':
      return (chunk) => {
        for (const path of selection.picks.keys()) if (chunkMayHoldPath(chunk, path)) return true;
        return false;
      };
  }
}

/**
 * Calls `visit` with the index lines that `mayHold` chunks hold (with their
 * line numbers in the whole index), in order: the whole index, read and
 * verified in one stream, when there is no trusted chunk table, no filter,
 * or every chunk is wanted; else the wanted chunks by range, each verified
 * against the table.
 *
 * `ranges` must see every line after a wanted member up to the next member,
 * which may lie in a chunk not read: there the table's `next` (the first
 * member after the chunk) is noted in its place, which ends the span of the
 * chunk's last wanted member as that member's line would.
 */
async function eachLine(pass: IndexPass, mayHold: ((chunk: IndexChunk) => boolean) | undefined, visit: (line: number, entry: IndexEntry) => void, ranges: MemberRanges | undefined): Promise<void> {
  const { store, image, copy, chunks } = pass;
  const read = chunks === undefined || mayHold === undefined ? undefined : chunks.flatMap((chunk, i) => (mayHold(chunk) ? [i] : []));
  if (chunks === undefined || read === undefined || read.length === chunks.length) {
    let line = 0;
    for await (const entry of trustedIndex(store, image, copy)) visit((line += 1), entry);
    return;
  }
  const firstLine: number[] = [];
  chunks.reduce((before, chunk, i) => ((firstLine[i] = before), before + chunk.entries), 0);
  for (const [k, i] of read.entries()) {
    const entries = await trustedIndexChunk(store, image, copy, chunks, i);
    entries.forEach((entry, j) => visit(firstLine[i]! + j + 1, entry));
    const following = read[k + 1];
    if (following === i + 1) continue;
    // Chunks skipped: unless no member lies in them (the next chunk read then starts with the member after this one), note that member.
    const next = chunks[i]!.next;
    const afterSkipped = following === undefined ? undefined : chunks[following - 1]!.next;
    if (next !== undefined && (following === undefined || next.fragment !== afterSkipped?.fragment || next.offset !== afterSkipped.offset)) {
      ranges?.note({ path: '', type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtimeMs: 0, fragment: next.fragment, offset: next.offset }, false);
    }
  }
}

async function* listed(entries: readonly IndexEntry[]): AsyncGenerator<IndexEntry, void, undefined> {
  yield* entries;
}

/** Two fragments' worth of ranges as one list in offset order; overlapping spans are joined. */
function mergeRanges(a: readonly MemberRange[], b: readonly MemberRange[]): MemberRange[] {
  const out: MemberRange[] = [];
  for (const range of [...a, ...b].sort((x, y) => x.start - y.start)) {
    const last = out.at(-1);
    if (last !== undefined && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else out.push({ ...range });
  }
  return out;
}

/** Why an index line cannot be trusted on its own, or undefined. */
export function lineProblem(entry: IndexEntry, catalogFragments: ReadonlyMap<number, Fragment>): string | undefined {
  if (entry.type === 'file' && (entry.sha256 === undefined || !SHA256.test(entry.sha256))) return 'lists it as a file without a sha256';
  if ((entry.type === 'symlink' || entry.type === 'hardlink') && !entry.linkTarget) return `lists it as a ${entry.type} without a target`;
  if (entry.fromBackupId !== undefined) {
    if (entry.type !== 'file' || entry.fragment !== 0) return `says its data is in image ${entry.fromBackupId} but lists it as a ${entry.type} in fragment ${entry.fragment}`;
    if (entry.pieces !== undefined) return `says its data is in image ${entry.fromBackupId} but lists pieces of it in this image`;
    return undefined;
  }
  if (!catalogFragments.has(entry.fragment)) return `places it in fragment ${entry.fragment}, which the catalog does not list`;
  return entry.pieces === undefined ? undefined : piecesProblem(entry, catalogFragments);
}

/**
 * Why a line's `pieces` cannot be those of its file, or undefined: the
 * first run is the line's own place at file byte 0, and each next run is in
 * a later fragment the catalog lists and starts further into the file,
 * before its end. The members themselves are checked against it as they
 * are read (piece-tracker.ts).
 */
function piecesProblem(entry: IndexEntry, catalogFragments: ReadonlyMap<number, Fragment>): string | undefined {
  const pieces = entry.pieces!;
  if (entry.type !== 'file') return `lists pieces of a ${entry.type}`;
  const first = pieces[0]!;
  if (first.fragment !== entry.fragment || first.offset !== entry.offset || first.fileOffset !== 0) return `lists its first pieces at file byte ${first.fileOffset} in fragment ${first.fragment} at byte ${first.offset}, not where the line places it (fragment ${entry.fragment}, byte ${entry.offset}, file byte 0)`;
  for (let i = 1; i < pieces.length; i++) {
    const run = pieces[i]!;
    const before = pieces[i - 1]!;
    if (run.fragment <= before.fragment) return `lists pieces in fragment ${run.fragment} after pieces in fragment ${before.fragment}`;
    if (run.fileOffset <= before.fileOffset || run.fileOffset >= entry.size) return `lists pieces from file byte ${run.fileOffset} in fragment ${run.fragment}, which does not continue the pieces before (from byte ${before.fileOffset}) within the file's ${entry.size} bytes`;
    if (!catalogFragments.has(run.fragment)) return `places pieces of it in fragment ${run.fragment}, which the catalog does not list`;
  }
  return undefined;
}

/** Why an earlier image's line does not hold what the final image's index promises, or undefined. */
function pickProblem(entry: IndexEntry, selection: Extract<Selection, { kind: 'picks' }>): string | undefined {
  const pick = selection.picks.get(entry.path);
  if (!pick) return undefined;
  if (entry.fromBackupId !== undefined) return `does not hold its data either (it points at image ${entry.fromBackupId})`;
  if (entry.type !== 'file') return `lists it as a ${entry.type}, where image ${selection.by} expects a file`;
  if (entry.sha256 !== pick.sha256 || entry.size !== pick.size) return `has ${entry.size} bytes with sha256 ${entry.sha256 ?? '(none)'}; image ${selection.by} expects ${pick.size} bytes with sha256 ${pick.sha256}`;
  return undefined;
}

function nothingMatches(image: Image, unmatched: ReadonlyArray<{ given: string; unchangedIn: string | undefined }>): CairnError {
  const paths = unmatched.map((r) => r.given).join(', ');
  const hints = unmatched
    .filter((r) => r.unchangedIn !== undefined)
    .map((r) => `${r.given} is unchanged since image ${r.unchangedIn} and its data is there: rebuild the tree of that time (--client ${image.client} --at ${image.createdAt})`);
  return new CairnError(StatusCode.IMAGE_NOT_FOUND, `nothing in image ${image.backupId} matches ${paths}; nothing was restored`, { details: hints });
}
