/// <reference lib="dom" />
import { useEffect, useState } from 'preact/hooks';

/** How long the page waits before opening the live feed again after the browser gave it up. */
const REOPEN_MS = 5000;

/**
 * A counter that goes up on every `jobs` event of the live feed; views refetch when it changes.
 * The browser reconnects by itself when the connection drops (a stopped service: the feed's
 * `retry: 2000`), but gives up for good on an answer that is not a stream (a 503 when too many
 * feeds are open, a 401, a 502 from a proxy): the page then opens a new one after REOPEN_MS,
 * so it shows "reconnecting" and recovers rather than staying off.
 */
export function useLiveVersion(): { version: number; live: boolean } {
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  useEffect(() => {
    let source: EventSource | undefined;
    let reopen: ReturnType<typeof setTimeout> | undefined;
    const open = (): void => {
      source = new EventSource('/api/events');
      source.addEventListener('jobs', () => setVersion((v) => v + 1));
      source.addEventListener('open', () => setLive(true));
      source.addEventListener('error', () => {
        setLive(false);
        if (source?.readyState === EventSource.CLOSED) reopen = setTimeout(open, REOPEN_MS);
      });
    };
    open();
    return () => {
      clearTimeout(reopen);
      source?.close();
    };
  }, []);
  return { version, live };
}
