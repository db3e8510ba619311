import type { DataPathTimes } from '../model/task.ts';

/**
 * Which side of the data path held a backup back: the operator's question
 * behind NetBackup's "waited for full buffer" / "waited for empty buffer"
 * lines, answered instead of left to interpret.
 *
 * The rule, in order (shares are of `times.elapsedMs`, the data path's wall time):
 * 1. too-short: under MIN_ELAPSED_MS or MIN_BYTES. Start-up, the first
 *    fragment's open and the last fsync dominate such a job; its shares say
 *    nothing about steady state.
 * 2. unmeasured: no timings (an agent or a job record older than the verdict).
 * 3. cpu-bound: the agent's main thread was busy at least CPU_BUSY_PERCENT of
 *    the job, or hashing alone took HASH_PERCENT. That thread packs and
 *    copies for both sides; when it is never idle, a faster disk or store
 *    would not help, and the waits below are its symptoms, not their cause.
 *    File content is hashed on the agent's reader thread, one pass: hashing
 *    that takes HASH_PERCENT of the job is that thread's limit, whatever the
 *    main thread does.
 * 4. reader-bound: the writer waited for a full buffer at least WAIT_PERCENT of
 *    the job and at least WAIT_DOMINANCE times as long as the reader waited.
 *    NetBackup's reading: many waits for a full buffer on the media side mean
 *    the client (its disk, its snapshot, its file system walk) is slow.
 * 5. writer-bound: the reader waited for an empty buffer (or for a fragment
 *    to become durable) at least WAIT_PERCENT of the job and at least
 *    WAIT_DOMINANCE times as long as the writer waited. NetBackup's reading:
 *    many waits for an empty buffer on the client side mean the media
 *    (storage) is slow.
 * 6. balanced: neither side waited long for the other; the pipeline kept
 *    both ends busy. Faster hardware on one side alone buys little.
 * Times decide, not counts: a thousand waits of a microsecond weigh less
 * than ten waits of a second. The counts and each side's busy time are
 * given with every verdict as the figures behind it.
 */
export type BottleneckVerdict = 'reader-bound' | 'writer-bound' | 'cpu-bound' | 'balanced' | 'too-short' | 'unmeasured';

export const MIN_ELAPSED_MS = 1000;
export const MIN_BYTES = 8 * 1024 * 1024;
/** Shares are in percent, compared in integers, so a figure exactly at a threshold is decided the same on every machine. */
export const CPU_BUSY_PERCENT = 85;
export const HASH_PERCENT = 50;
export const WAIT_PERCENT = 25;
export const WAIT_DOMINANCE = 2;

export interface BottleneckInput {
  /** Image bytes written. */
  bytes: number;
  /** How often the writer waited for a full buffer. */
  writerWaits: number;
  /** How often the reader waited for an empty buffer. */
  readerWaits: number;
  times?: DataPathTimes;
}

/** Each figure as a share of the data path's wall time (0..1, rounded to the percent). */
export interface BottleneckShares {
  read: number;
  write: number;
  hash: number;
  mainThread: number;
  readerWait: number;
  writerWait: number;
}

export interface Bottleneck {
  verdict: BottleneckVerdict;
  /** The verdict in words, with where to look: "reader-bound (client disk or snapshot)". */
  label: string;
  /** The figures that decided it. */
  because: string;
  /** Every figure, in words, for the line below the verdict. */
  figures: string;
  shares?: BottleneckShares;
}

const LABELS: Record<BottleneckVerdict, string> = {
  'reader-bound': 'reader-bound (client disk or snapshot)',
  'writer-bound': 'writer-bound (storage)',
  'cpu-bound': 'CPU-bound (hashing/compression)',
  balanced: 'balanced (neither side held the other up)',
  'too-short': 'too short to tell',
  unmeasured: 'not measured',
};

/** The verdict of one backup job from its progress figures (see the rule above). Pure. */
export function bottleneckOf(input: BottleneckInput): Bottleneck {
  const { times } = input;
  const counts = `writer waited for a full buffer ${count(input.writerWaits)} times, reader waited for an empty buffer ${count(input.readerWaits)} times`;
  if (!times) return verdict('unmeasured', 'the agent that ran this job recorded no timings', counts);
  const shares = sharesOf(times);
  const waits = `writer waited for a full buffer ${count(input.writerWaits)} times (${seconds(times.writerWaitMs)}, ${percent(shares.writerWait)}), reader waited for an empty buffer ${count(input.readerWaits)} times (${seconds(times.readerWaitMs)}, ${percent(shares.readerWait)})`;
  const busy = `over ${seconds(times.elapsedMs)}: reader busy ${percent(shares.read)}, writer busy ${percent(shares.write)}, hashing ${percent(shares.hash)}, main thread busy ${percent(shares.mainThread)}`;
  const figures = `${busy}; ${waits}`;
  if (times.elapsedMs < MIN_ELAPSED_MS || input.bytes < MIN_BYTES) {
    return verdict('too-short', `${seconds(times.elapsedMs)} and ${megabytes(input.bytes)}: a job under ${seconds(MIN_ELAPSED_MS)} or ${megabytes(MIN_BYTES)} is mostly start-up and the final sync`, figures, shares);
  }
  const atLeast = (ms: number, percentOfJob: number): boolean => ms * 100 >= percentOfJob * times.elapsedMs;
  if (atLeast(times.mainThreadMs, CPU_BUSY_PERCENT) || atLeast(times.hashMs, HASH_PERCENT)) {
    return verdict('cpu-bound', `main thread busy ${percent(shares.mainThread)} of the job, hashing ${percent(shares.hash)} (${seconds(times.hashMs)})`, figures, shares);
  }
  const dominates = (mine: number, theirs: number): boolean => atLeast(mine, WAIT_PERCENT) && mine >= WAIT_DOMINANCE * theirs;
  if (dominates(times.writerWaitMs, times.readerWaitMs)) {
    return verdict('reader-bound', `reader busy ${percent(shares.read)} of the job, writer waited for a full buffer ${count(input.writerWaits)} times (${seconds(times.writerWaitMs)}, ${percent(shares.writerWait)})`, figures, shares);
  }
  if (dominates(times.readerWaitMs, times.writerWaitMs)) {
    return verdict('writer-bound', `writer busy ${percent(shares.write)} of the job, reader waited for an empty buffer ${count(input.readerWaits)} times (${seconds(times.readerWaitMs)}, ${percent(shares.readerWait)})`, figures, shares);
  }
  return verdict('balanced', `writer waited ${percent(shares.writerWait)} of the job, reader ${percent(shares.readerWait)}: neither ${WAIT_PERCENT}% and twice the other`, figures, shares);
}

function verdict(kind: BottleneckVerdict, because: string, figures: string, shares?: BottleneckShares): Bottleneck {
  return shares ? { verdict: kind, label: LABELS[kind], because, figures, shares } : { verdict: kind, label: LABELS[kind], because, figures };
}

function sharesOf(times: DataPathTimes): BottleneckShares {
  const of = (ms: number): number => (times.elapsedMs > 0 ? Math.round((ms / times.elapsedMs) * 100) / 100 : 0);
  return { read: of(times.readMs), write: of(times.writeMs), hash: of(times.hashMs), mainThread: of(times.mainThreadMs), readerWait: of(times.readerWaitMs), writerWait: of(times.writerWaitMs) };
}

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

function seconds(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000).toLocaleString('en-US')} s`;
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
