import type { Extract } from 'tar-stream';

/** Waits until the parser takes more input (drain), or is gone (close). */
export function drainedOrClosed(extract: Extract): Promise<void> {
  if (extract.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}
