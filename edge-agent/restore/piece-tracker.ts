import type { IndexEntry } from '#core/model/task.ts';
import type { PieceOf } from '../image/piece-member.ts';
import type { ExtractMember, MemberDecision } from './tar-extractor.ts';

/** A pieced file whose pieces are being met, and what the restore decided for it. */
interface OpenPieces {
  entry: IndexEntry & { pieces: NonNullable<IndexEntry['pieces']> };
  decision: MemberDecision;
  /** The fragment of the last piece met. */
  fragment: number;
  /** Pieces met so far. */
  pieces: number;
  /** The file byte the next piece must start at. */
  next: number;
  /** Continued from an earlier Read of the job: the next piece met continues its partial file. */
  resumed?: boolean;
}

/** What to do with a piece: the extractor's decision, or why it is refused (the file is then abandoned). */
export type PieceVerdict = { decision: MemberDecision } | { problem: string; entry?: IndexEntry };

/**
 * The index side of restoring files stored as pieces (image/piece-member.ts):
 * the first piece meets the file's index line like any member; every next
 * piece has no line of its own and must continue the open file exactly
 * (same file, the byte that comes next), and the first piece in each
 * fragment must be where the line's `pieces` says (fragment, offset at or
 * before its header, file byte). Anything else abandons the file: the
 * caller lists the problem and drops the extractor's unfinished file.
 */
export class PieceTracker {
  #open: OpenPieces | undefined;
  /** Paths of files abandoned in this plan: their later pieces are passed over without a second report. */
  readonly #abandoned = new Set<string>();
  /** A file resumed (`resume`) whose first piece in this Read has not been passed on: its partial file is not continued. */
  #resumePending = false;

  get resumePending(): boolean {
    return this.#resumePending;
  }

  /** The file waiting for its next piece, and that byte. */
  get open(): { entry: IndexEntry; decision: MemberDecision; next: number; piece: number } | undefined {
    const open = this.#open;
    return open === undefined ? undefined : { entry: open.entry, decision: open.decision, next: open.next, piece: open.pieces + 1 };
  }

  /** The first piece of `entry` (a line with `pieces`) met its line in `fragment`, with this decision. */
  first(entry: IndexEntry, decision: MemberDecision, member: ExtractMember, piece: PieceOf, fragment: number): PieceVerdict {
    const pieces = entry.pieces;
    const length = member.header.size ?? 0;
    const problem = pieces === undefined ? `its member ${member.header.name} is a piece, and the index has the file whole` : length === 0 || length >= entry.size ? `its first piece ${member.header.name} holds ${length} of its ${entry.size} bytes` : undefined;
    if (problem !== undefined || pieces === undefined) {
      this.#abandoned.add(entry.path);
      return { problem: problem!, entry };
    }
    this.#abandoned.delete(entry.path);
    this.#open = { entry: { ...entry, pieces }, decision, fragment, pieces: 1, next: length };
    if (!decision.restore) return { decision };
    return { decision: { ...decision, piece: { fileOffset: 0, fileSize: piece.fileSize, fragment } } };
  }

  /**
   * A file whose pieces before file byte `fileOffset` an earlier Read of
   * this tape restore job wrote (its line is in a fragment this Read does
   * not read): it waits for its next piece, which must be the first of a
   * fragment's run, at exactly that byte (checked by `next` as for any
   * fragment's first piece).
   */
  resume(entry: IndexEntry, decision: MemberDecision, fileOffset: number): void {
    if (entry.pieces === undefined) return;
    this.#abandoned.delete(entry.path);
    this.#resumePending = true;
    this.#open = { entry: { ...entry, pieces: entry.pieces }, decision, fragment: -1, pieces: entry.pieces.filter((p) => p.fileOffset < fileOffset).length, next: fileOffset, resumed: true };
  }

  /** The open file is kept for a later Read (its next piece is there); nothing is listed for it. Returns it. */
  suspend(): OpenPieces['entry'] | undefined {
    const open = this.#open;
    this.#open = undefined;
    return open?.entry;
  }

  /** A piece after the first (`GNU.volume.offset` > 0) met in `fragment`. */
  next(member: ExtractMember, clientPath: string, piece: PieceOf, fragment: number, disagreement: (entry: IndexEntry) => string | undefined): PieceVerdict {
    const open = this.#open;
    const what = `${member.header.name} (header at byte ${member.offset}, file bytes from ${piece.fileOffset})`;
    if (open !== undefined && open.entry.path !== clientPath) {
      // Another file's piece where this one's next piece belongs (a forged index, or pieces out of place): this file is abandoned.
      return { problem: `its piece ${open.pieces + 1} (from file byte ${open.next}) belongs where ${member.header.name} (header at byte ${member.offset}) is, a piece of ${clientPath}`, entry: open.entry };
    }
    if (open === undefined) {
      if (this.#abandoned.has(clientPath)) return { decision: { restore: false } };
      return { problem: `its piece ${what} comes with no earlier piece of it before` };
    }
    const number = open.pieces + 1;
    const length = member.header.size ?? 0;
    const problem = ((): string | undefined => {
      if (piece.fileOffset !== open.next) return `its piece ${number}, ${what}, does not continue the file: byte ${open.next} comes next`;
      if (length === 0 || piece.fileOffset + length > open.entry.size) return `its piece ${number}, ${what}, holds ${length} bytes, past the file's ${open.entry.size}`;
      if (fragment !== open.fragment) {
        const run = open.entry.pieces.find((p) => p.fragment === fragment);
        if (run === undefined || run.fileOffset !== piece.fileOffset || run.offset > member.offset) {
          return `its piece ${number}, ${what}, is the first in fragment ${fragment}, where the index places ${run === undefined ? 'none' : `the piece at file byte ${run.fileOffset} from byte ${run.offset}`}`;
        }
      }
      const differs = disagreement(open.entry);
      if (differs !== undefined) return `its piece ${number}, ${what}: ${differs}`;
      if (piece.fileOffset + length === open.entry.size && open.entry.pieces.at(-1)!.fragment !== fragment) {
        return `its last piece ${number}, ${what}, is in fragment ${fragment}, and the index places pieces in fragment ${open.entry.pieces.at(-1)!.fragment}`;
      }
      return undefined;
    })();
    if (problem !== undefined) return { problem, entry: open.entry };
    open.fragment = fragment;
    open.pieces = number;
    open.next += length;
    const decision = open.decision;
    const resume = open.resumed === true ? { resume: true } : {};
    open.resumed = false;
    this.#resumePending = false;
    if (open.next === open.entry.size) this.#open = undefined;
    return { decision: decision.restore ? { ...decision, piece: { fileOffset: piece.fileOffset, fileSize: piece.fileSize, fragment, ...resume } } : decision };
  }

  /** Abandons the open file (if any); returns it, so the caller lists why and drops the extractor's file. */
  abandon(): OpenPieces['entry'] | undefined {
    const open = this.#open;
    this.#open = undefined;
    if (open === undefined) return undefined;
    this.#abandoned.add(open.entry.path);
    return open.entry;
  }
}
