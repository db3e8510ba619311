import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * A store call or a stream that stops answering (a stalled connection, a
 * hung mount) must not outlive a cancel: the ObjectStore port takes no
 * signal, so restore races each read against it. A cancel ends the wait
 * with status 150; the abandoned call settles, or not, on its own.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(terminated(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(terminated(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** A body whose every read is raced against the signal; a cancel also ends the underlying stream. */
export async function* readUntilAborted(body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await untilAborted(reader.next(), signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a stalled stream may never answer its return() either.
    void Promise.resolve(reader.return?.()).catch(() => undefined);
  }
}

export function terminated(signal: AbortSignal): CairnError {
  return new CairnError(StatusCode.TERMINATED_BY_ADMINISTRATOR, 'termination requested by administrator', { cause: signal.reason });
}
