/**
 * Runs `prepare` on up to `depth` items ahead of the consumer and yields the
 * results in source order. Lets file-system round trips (open, stat, first
 * read) of the next files overlap with packing the current one.
 *
 * The queue is refilled in bursts (once it is down to half of `depth`, up
 * to `depth`), so the prepares of a burst are asked for together: the
 * reader thread (reader-thread.ts) takes what is asked in one turn of the
 * event loop as one message, so a burst costs one round trip, not one per
 * item.
 *
 * `afterRefill` runs once a burst has been asked for: the reader thread's
 * `flush`, so the burst goes now and is read while the consumer packs the
 * entries it already has.
 *
 * A `prepare` that rejects makes the iteration throw when its turn comes.
 * When the consumer stops early, everything prepared but not yet taken is
 * handed to `dispose` (e.g. to close files) before the iteration ends.
 */
export async function* readAhead<T, P>(source: AsyncIterable<T>, prepare: (item: T) => Promise<P>, dispose: (prepared: P) => Promise<void>, depth: number, afterRefill?: () => void): AsyncGenerator<P, void, undefined> {
  type Settled = { value: P } | { error: unknown };
  const iterator = source[Symbol.asyncIterator]();
  const queue: Array<Promise<Settled>> = [];
  let exhausted = false;
  try {
    for (;;) {
      const refill = queue.length <= depth / 2 && !exhausted;
      while (refill && !exhausted && queue.length < depth) {
        const step = await iterator.next();
        if (step.done) exhausted = true;
        else
          queue.push(
            prepare(step.value).then(
              (value) => ({ value }),
              (error: unknown) => ({ error }),
            ),
          );
      }
      if (refill) afterRefill?.();
      const head = queue.shift();
      if (!head) return;
      const settled = await head;
      if ('error' in settled) throw settled.error;
      yield settled.value;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
    for (const pending of queue.splice(0)) {
      const settled = await pending;
      if ('value' in settled) await dispose(settled.value).catch(() => undefined);
    }
  }
}
