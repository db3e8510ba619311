import { escapedName } from '#core/model/file-name.ts';

/**
 * What could not be backed up, as `path: reason` lines. All are counted;
 * only the first `limit` are kept, so a tree of a million unreadable files
 * cannot exhaust memory or overflow the job record.
 */
export class ProblemList {
  readonly limit: number;
  readonly #lines: string[] = [];
  #count = 0;

  constructor(limit = 1000) {
    this.limit = limit;
  }

  /** The path in its escaped form (core/model/file-name.ts): a name that is not UTF-8 stays readable, and the line is text any store keeps. */
  add(path: string, reason: string): void {
    this.addLine(`${escapedName(path)}: ${reason}`);
  }

  /** A problem that is not about one path (a fragment, an image). */
  addLine(line: string): void {
    this.#count += 1;
    if (this.#lines.length < this.limit) this.#lines.push(line);
  }

  get count(): number {
    return this.#count;
  }

  /** The first `max` problems (at most `limit`). */
  first(max = this.limit): string[] {
    return this.#lines.slice(0, max);
  }

  /** Every kept line, then how many more there were when the list is capped. */
  report(): string[] {
    const more = this.#count - this.#lines.length;
    return more > 0 ? [...this.#lines, `(${more} more not listed)`] : [...this.#lines];
  }
}
