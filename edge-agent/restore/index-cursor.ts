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
 * line with nothing held in memory but one line of look-ahead.
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
  #next: IndexEntry | undefined;
  #peeked = false;

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
        this.#peeked = false;
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
    while (!this.#peeked) {
      const step = await this.#entries.next();
      this.#next = step.done ? undefined : step.value;
      this.#peeked = step.done === true || this.#read.has(step.value.fragment);
    }
    return this.#next;
  }

  #take(onMissing: OnMissing): void {
    this.#peeked = false;
    if (this.#next !== undefined) onMissing(this.#next);
  }
}
