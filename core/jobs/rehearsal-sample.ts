import type { RehearsalSample } from '../model/policy.ts';

/** What the sampler needs of an index line (core/model/task.ts IndexEntry). */
export interface SampleCandidate {
  path: string;
  type: string;
  size: number;
  sha256?: string;
  /** `superseded`: a copy the reader read again; the path's next line is what the image holds. */
  changed?: string;
}

/** One file a rehearsal restores and compares. */
export interface SampledFile {
  path: string;
  size: number;
  sha256?: string;
}

/**
 * Chooses a restore rehearsal's files (pure, deterministic given `seed`,
 * which is the job id): regular files only, one pass in any order, memory
 * bounded by the sample size however large the index.
 *
 * - `all`: every regular file.
 * - N: the largest file (ties: the first path in code-point order), then
 *   the N-1 other files with the lowest hash of (seed, path): a bottom-k
 *   sample, uniform over the tree, so each directory is sampled in
 *   proportion to the files it holds, and the same seed chooses the same
 *   files whatever order the lines come in.
 *
 * The result is in path order (the order restore walks the index).
 */
export class RehearsalSampler {
  private readonly files: SampledFile[] = [];
  private largest: SampledFile | undefined;
  /** Bottom-k candidates, by key, at most `limit - 1` of them (one slot is the largest's). */
  private readonly kept = new Map<string, { key: number; file: SampledFile }>();
  private worst: { key: number; path: string } | undefined;
  private seen = 0;

  constructor(
    private readonly sample: RehearsalSample,
    private readonly seed: string,
  ) {}

  /** Offers one index line; only regular files (type `file`) that are what the image holds are taken. */
  add(entry: SampleCandidate): void {
    if (entry.type !== 'file' || entry.changed === 'superseded') return;
    this.seen += 1;
    const file: SampledFile = { path: entry.path, size: entry.size, ...(entry.sha256 === undefined ? {} : { sha256: entry.sha256 }) };
    if (this.sample === 'all') {
      this.files.push(file);
      return;
    }
    const previous = this.largest;
    if (previous === undefined || file.size > previous.size || (file.size === previous.size && file.path < previous.path)) {
      this.largest = file;
      if (previous !== undefined) this.offer(previous);
    } else {
      this.offer(file);
    }
  }

  /** The chosen files, in path order. */
  result(): SampledFile[] {
    const chosen = this.sample === 'all' ? [...this.files] : [...(this.largest ? [this.largest] : []), ...[...this.kept.values()].map((k) => k.file)];
    return chosen.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Regular files offered (the population the sample was drawn from). */
  get population(): number {
    return this.seen;
  }

  private offer(file: SampledFile): void {
    const limit = (this.sample as number) - 1;
    if (limit <= 0) return;
    const key = sampleKey(this.seed, file.path);
    if (this.kept.size < limit) {
      this.kept.set(file.path, { key, file });
      if (this.worst === undefined || before(this.worst, { key, path: file.path })) this.worst = { key, path: file.path };
      return;
    }
    const worst = this.worst!;
    if (!before({ key, path: file.path }, worst)) return;
    this.kept.delete(worst.path);
    this.kept.set(file.path, { key, file });
    let next: { key: number; path: string } | undefined;
    for (const [path, k] of this.kept) if (next === undefined || before(next, { key: k.key, path })) next = { key: k.key, path };
    this.worst = next;
  }
}

/** `chooseSample` over a whole list: see RehearsalSampler. */
export function chooseSample(entries: Iterable<SampleCandidate>, sample: RehearsalSample, seed: string): SampledFile[] {
  const sampler = new RehearsalSampler(sample, seed);
  for (const entry of entries) sampler.add(entry);
  return sampler.result();
}

/** Lower key first; equal keys by path, so the order is total and the choice does not depend on arrival order. */
function before(a: { key: number; path: string }, b: { key: number; path: string }): boolean {
  return a.key < b.key || (a.key === b.key && a.path < b.path);
}

/**
 * A 53-bit hash of (seed, path) (cyrb53: two 32-bit FNV-style lanes mixed
 * with Math.imul). Not cryptographic: it only has to spread paths evenly
 * and be the same on every host and runtime.
 */
export function sampleKey(seed: string, path: string): number {
  const text = `${seed}\u0000${path}`;
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
