/**
 * Hands a read buffer back to whoever filled it once the buffer pool has
 * copied it (see `fill` in buffer-pool.ts), so the reader thread can read
 * the next chunk into it instead of allocating a new one.
 *
 * Why: every chunk the reader thread reads arrives as a transferred
 * ArrayBuffer of its own. A backup of 1 GB of medium files made about
 * 1,000 of them a GB, each freed only by the garbage collector; their
 * external memory set off a mark-compact every few tens of MB, and the
 * main thread spent up to a quarter of its time collecting.
 *
 * Contract: a buffer is registered only by its owner (reader-thread.ts)
 * and only for a chunk that goes through the pool whole and nowhere else
 * (the tar stream pushes member data as it gets it); after `copied` the
 * owner may overwrite it. A chunk cut into parts that go through the pool
 * separately (a file's pieces, fragment-writer.ts) is taken out with
 * `cutIntoParts` first: the first part copied would otherwise hand the
 * buffer back (a transfer, which detaches it) under the parts still to come. A chunk that never reaches the pool (an aborted
 * backup) is simply left to the garbage collector.
 */
const owners = new WeakMap<ArrayBufferLike, (buffer: ArrayBuffer) => void>();

/** Asks for `buffer` back through `onCopied` once a chunk viewing it has been copied into the pool. */
export function recycleAfterCopy(buffer: ArrayBuffer, onCopied: (buffer: ArrayBuffer) => void): void {
  owners.set(buffer, onCopied);
}

/** Called by the pool when it has copied the whole of `chunk`: the chunk's buffer goes back to its owner, if it has one. */
export function copied(chunk: Uint8Array): void {
  const owner = owners.get(chunk.buffer);
  if (!owner) return;
  owners.delete(chunk.buffer);
  owner(chunk.buffer as ArrayBuffer);
}

/** `chunk` is about to be cut into parts that reach the pool one by one: its buffer is not handed back (the garbage collector frees it). */
export function cutIntoParts(chunk: Uint8Array): void {
  owners.delete(chunk.buffer);
}
