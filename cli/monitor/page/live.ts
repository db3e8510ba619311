/// <reference lib="dom" />
import { useEffect, useState } from 'preact/hooks';

/** A counter that goes up on every `jobs` event of the live feed; views refetch when it changes. */
export function useLiveVersion(): { version: number; live: boolean } {
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  useEffect(() => {
    const source = new EventSource('/api/events');
    source.addEventListener('jobs', () => setVersion((v) => v + 1));
    source.addEventListener('open', () => setLive(true));
    source.addEventListener('error', () => setLive(false));
    return () => source.close();
  }, []);
  return { version, live };
}
