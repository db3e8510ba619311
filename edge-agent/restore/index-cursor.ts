import type { IndexEntry } from '#core/model/task.ts';

/** A member as the cursor matches it: its client path and the offset of its own header in the fragment. */
export interface MemberAt {
  path: string;
  offset: number;
}

/** An index line that no member matched. */
export type OnMissing = (entry: IndexEntry) => void;

/**
 * Walks an image's index in step with the members of the fragments being
 * read. Index and fragments are both in walk order, so each member meets its
 * line with nothing held in memory but one line of look-ahead (two after
 * a superseded copy's line: docs/image-format.md, Files that change while
 * they are read).
 *
 * Each line records the offset of its member's first header, so the cursor
 * tells the two ways they can disagree apart: a line whose offset lies
 * before the member at hand had no member (it is passed to `onMissing`); a
 * member met before its position in the index has no line (`match` returns
 * undefined). Lines of fragments not being read, and lines whose data is in
 * an earlier image (fragment 0), are passed over.
 */
export class IndexCursor {
  readonly #entries: AsyncGenerator<IndexEntry, void, undefined>;
  readonly #read: ReadonlySet<number>;
  /** Lines of fragments being read, looked at and not taken yet (two at most). */
  readonly #ahead: IndexEntry[] = [];
  #ended = false;

  /** `read`: the numbers of the fragments that will be read, in order. */
  constructor(entries: AsyncGenerator<IndexEntry, void, undefined>, read: ReadonlySet<number>) {
    this.#entries = entries;
    this.#read = read;
  }

  /** The line of `member` in `fragment`, or undefined when the index does not list it there. */
  async match(member: MemberAt, fragment: number, onMissing: OnMissing): Promise<IndexEntry | undefined> {
    for (;;) {
      const entry = await this.#peek();
      if (entry === undefined || entry.fragment > fragment) return undefined;
      if (entry.fragment < fragment) {
        // Normally consumed by endFragment already.
        this.#take(onMissing);
        continue;
      }
      if (entry.path === member.path) {
        // A copy that changed while it was read is followed by the file read again (a line of the same path): when
        // the member at hand is at or past that one, the superseded copy's member was not read (a ranged read).
        const after = entry.changed === 'superseded' ? await this.#second() : undefined;
        if (after?.path === member.path && after.fragment === fragment && after.offset <= member.offset) {
          this.#take(onMissing);
          continue;
        }
        this.#ahead.shift();
        return entry;
      }
      if (entry.offset >= member.offset) return undefined;
      this.#take(onMissing);
    }
  }

  /** After the last member of `fragment`: its lines not matched yet had no member. */
  async endFragment(fragment: number, onMissing: OnMissing): Promise<void> {
    for (;;) {
      const entry = await this.#peek();
      if (entry === undefined || entry.fragment > fragment) return;
      this.#take(onMissing);
    }
  }

  /** Reads the index to its end (which checks its sha256); lines of fragments being read had no member. */
  async finish(onMissing: OnMissing): Promise<void> {
    while ((await this.#peek()) !== undefined) this.#take(onMissing);
  }

  async close(): Promise<void> {
    await this.#entries.return(undefined);
  }

  /** The next line of a fragment being read. */
  async #peek(): Promise<IndexEntry | undefined> {
    await this.#fill(1);
    return this.#ahead[0];
  }

  /** The line after the next one, of a fragment being read. */
  async #second(): Promise<IndexEntry | undefined> {
    await this.#fill(2);
    return this.#ahead[1];
  }

  async #fill(count: number): Promise<void> {
    while (this.#ahead.length < count && !this.#ended) {
      const step = await this.#entries.next();
      if (step.done) this.#ended = true;
      else if (this.#read.has(step.value.fragment)) this.#ahead.push(step.value);
    }
  }

  #take(onMissing: OnMissing): void {
    const entry = this.#ahead.shift();
    if (entry !== undefined) onMissing(entry);
  }
}
