/// <reference lib="dom" />
import { h, render, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { useLiveVersion } from './live.ts';
import { PAGES, pageFor } from './pages.ts';

/*
 * The activity monitor's page: Preact with `h` (no JSX transform, no
 * template strings turned into markup). Every text the server sends (a file
 * name, a job's error, a detail line) is a child string, which Preact sets
 * as a text node: nothing here writes HTML, so a name like
 * `<img src=x onerror=alert(1)>` shows as those characters.
 */

function App(): JSX.Element {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onHash = (): void => setHash(location.hash);
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const { version, live } = useLiveVersion();
  const menu = PAGES.flatMap((page) => (page.nav ? [page.nav] : []));
  return h(
    'div',
    { class: 'monitor' },
    h(
      'header',
      null,
      h('a', { href: '#/jobs', class: 'brand' }, 'Cairn activity monitor'),
      h('nav', null, menu.map((item) => h('a', { href: item.href, class: hash.startsWith(item.href) ? 'current' : undefined }, item.label))),
      h('span', { class: live ? 'live on' : 'live off', 'data-testid': 'live' }, live ? 'live' : 'reconnecting'),
    ),
    h('main', null, pageFor(hash, version)),
  );
}

const root = document.getElementById('app');
if (root) render(h(App, null), root);
