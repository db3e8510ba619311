import type { IndexEntry } from '#core/model/task.ts';
import type { TarRange } from '#core/ports/fragment-sink.ts';

/** A span of a fragment's tar stream holding wanted members, from the first header of the first of them. */
export interface MemberRange extends TarRange {
  /** The client path of its first member, to name in errors: the index says a header starts at `start`. */
  first: string;
}

/** A range's `end` when it runs to the end of the archive (its last member is the fragment's last). */
export const TO_THE_END = Number.MAX_SAFE_INTEGER;

/** Wanted members closer than this are read as one range: a request costs more than reading a few hundred KiB more. */
const MERGE_GAP = 256 * 1024;

/** A fragment is read by ranges only when they hold at most this share of it; a restore that wants more of it reads it whole, and checks its sha256. */
const RANGED_SHARE = 0.5;

/**
 * Works out, from an image's index, which spans of each fragment hold the
 * members a selective restore wants, so only those are read.
 *
 * Each line's offset is where its member's first header starts (any pax
 * header included), and the index is in walk order, which is offset order
 * within a fragment: a member ends where the next line's member starts, and
 * the fragment's last member runs to the end of the archive (the
 * end-of-archive blocks after it are a few KiB). Feed it every line of the
 * index in order; lines whose data is in an earlier image (fragment 0) are
 * passed over.
 *
 * An index whose offsets do not grow within a fragment cannot be cut into
 * ranges: that fragment is then read whole (and its members checked against
 * the index as in a full restore, which reports the disagreement).
 */
export class MemberRanges {
  readonly #ranges = new Map<number, MemberRange[]>();
  /** Estimated wanted bytes per fragment (the last member's end is not in the index: its size stands in for it). */
  readonly #wanted = new Map<number, number>();
  readonly #unordered = new Set<number>();
  readonly #fragmentsSeen = new Set<number>();
  #previous: IndexEntry | undefined;
  /** The wanted line whose end is the next line's offset. */
  #open: IndexEntry | undefined;

  note(entry: IndexEntry, wanted: boolean): void {
    if (entry.fromBackupId !== undefined || entry.fragment === 0) return;
    // A pieced file (its `pieces`) ends in the fragment of its last run: what follows it is placed after that.
    const previous = this.#previous === undefined ? undefined : lastPlace(this.#previous);
    if (previous?.fragment === entry.fragment ? !(entry.offset > previous.offset) : this.#fragmentsSeen.has(entry.fragment)) this.#unordered.add(entry.fragment);
    for (const run of entry.pieces ?? [entry]) this.#fragmentsSeen.add(run.fragment);
    if (this.#open !== undefined) this.#close(lastPlace(this.#open).fragment === entry.fragment ? entry.offset : TO_THE_END);
    if (wanted) this.#open = entry;
    this.#previous = entry;
  }

  /** After the last line. */
  finish(): void {
    if (this.#open !== undefined) this.#close(TO_THE_END);
  }

  /**
   * The ranges to read of a fragment of `tarBytes` bytes (its stored bytes:
   * for a compressed fragment, fewer than its tar archive has, which only
   * makes ranges likelier), in order; undefined when it is better read whole.
   */
  rangesOf(fragment: number, tarBytes: number): MemberRange[] | undefined {
    const ranges = this.#ranges.get(fragment);
    if (ranges === undefined || this.#unordered.has(fragment)) return undefined;
    if ((this.#wanted.get(fragment) ?? 0) > tarBytes * RANGED_SHARE) return undefined;
    return ranges;
  }

  /** Whether any line of `fragment` was wanted. */
  wants(fragment: number): boolean {
    return this.#ranges.has(fragment);
  }

  /**
   * Adds the open line's span, ending at `end`, to its fragment's ranges
   * (merged with the last one when close). A pieced file has one span per
   * run of pieces: to the end of the archive in every fragment but its
   * last, to `end` there.
   */
  #close(end: number): void {
    const open = this.#open!;
    this.#open = undefined;
    const runs = open.pieces;
    if (runs === undefined) return this.#span(open, end);
    runs.forEach((run, i) => {
      const last = i === runs.length - 1;
      const size = last ? open.size - run.fileOffset : runs[i + 1]!.fileOffset - run.fileOffset;
      this.#span({ ...open, fragment: run.fragment, offset: run.offset, size }, last ? end : TO_THE_END);
    });
  }

  #span(entry: IndexEntry, end: number): void {
    const estimatedEnd = end === TO_THE_END ? entry.offset + memberBytes(entry) : end;
    let ranges = this.#ranges.get(entry.fragment);
    if (ranges === undefined) this.#ranges.set(entry.fragment, (ranges = []));
    const last = ranges.at(-1);
    // Offsets out of order: `note` marked the fragment, which is read whole.
    if (last !== undefined && entry.offset < last.end) return;
    if (last !== undefined && entry.offset - last.end <= MERGE_GAP) {
      this.#wanted.set(entry.fragment, (this.#wanted.get(entry.fragment) ?? 0) + (estimatedEnd - last.end));
      last.end = end;
      return;
    }
    ranges.push({ start: entry.offset, end, first: entry.path });
    this.#wanted.set(entry.fragment, (this.#wanted.get(entry.fragment) ?? 0) + (estimatedEnd - entry.offset));
  }
}

/** Where a line's last member starts: its last run of pieces, or the line's own place. */
function lastPlace(entry: IndexEntry): { fragment: number; offset: number } {
  return entry.pieces?.at(-1) ?? entry;
}

/** About what a member takes in the archive: its header blocks (a pax header at most) and its data padded to 512. */
function memberBytes(entry: IndexEntry): number {
  const data = entry.type === 'file' ? Math.ceil(entry.size / 512) * 512 : 0;
  return 3 * 512 + data;
}
