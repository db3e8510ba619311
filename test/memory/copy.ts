/**
 * What a stored value looks like after a round trip through SQLite or
 * DynamoDB: its JSON. Memory stores keep and return such copies, so a caller
 * that mutates what it put or got cannot change the store, and `undefined`
 * fields vanish exactly as they do on the real backings.
 */
export function stored<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Resolves on a later turn of the event loop, as real I/O does, so races between callers can interleave. */
export function io(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
