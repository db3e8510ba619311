/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { formatBytes, formatTime } from './format.ts';
import { fetchClientTree, type ClientTreePage } from './images-api.ts';
import { imageHref } from './images-address.ts';

type VNode = JSX.Element;

/** `datetime-local`'s value (local time, to the minute) as ISO 8601 in UTC; empty stays empty (now). */
function isoOf(local: string): string {
  if (!local) return '';
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? '' : at.toISOString();
}

/**
 * A client at a time, as `cairn ls --client C --at T`: its images at that
 * time merged (an incremental's unchanged files from earlier images, every
 * stream's image). Each entry names the image it is in, which opens that
 * image at its directory, where it can be picked and restored.
 */
export function ClientTree({ client }: { client: string }): VNode {
  const [local, setLocal] = useState('');
  const [path, setPath] = useState('/');
  const [page, setPage] = useState<ClientTreePage | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    let current = true;
    fetchClientTree(client, path, isoOf(local), 0).then(
      (answer) => current && (setPage(answer), setProblem(undefined)),
      (error: Error) => current && (setPage(undefined), setProblem(error.message)),
    );
    return () => {
      current = false;
    };
  }, [client, path, local]);
  const parts = path.split('/').filter((p) => p !== '');
  return h(
    'div',
    { class: 'browser tree' },
    h('p', null, h('a', { href: imageHref(client) }, `← images of ${client}`)),
    h('h2', null, `${client} at a time`),
    h('form', { class: 'search-form', onSubmit: (e: Event) => e.preventDefault() }, h('label', null, 'As it was at (empty: now)', h('input', { type: 'datetime-local', name: 'at', value: local, onChange: (e: Event) => setLocal((e.target as HTMLInputElement).value) }))),
    page && h('p', { class: 'figures' }, `from ${page.images.join(', ')} (newest at or before ${formatTime(page.at)})`),
    h(
      'nav',
      { class: 'crumbs', 'aria-label': 'directory' },
      h('button', { type: 'button', class: 'link', onClick: () => setPath('/') }, '/'),
      parts.map((part, i) => [i > 0 ? h('span', { class: 'sep' }, '/') : null, i === parts.length - 1 ? h('b', null, part) : h('button', { type: 'button', class: 'link', onClick: () => setPath(`/${parts.slice(0, i + 1).join('/')}`) }, part)]),
    ),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    page &&
      (page.entries.length === 0
        ? h('p', null, 'Nothing here.')
        : h(
            'table',
            { class: 'jobs entries' },
            h('thead', null, h('tr', null, ['Name', 'Type', 'Size', 'Modified', 'In image'].map((t) => h('th', null, t)))),
            h(
              'tbody',
              null,
              page.entries.map((entry) => {
                const inImage = entry.fromBackupId ?? page.backupId;
                const dir = entry.path.slice(0, Math.max(entry.path.lastIndexOf('/'), 1));
                return h(
                  'tr',
                  { key: entry.path, 'data-entry': entry.name },
                  h('td', { 'data-label': 'Name', class: 'name' }, entry.type === 'directory' ? h('button', { type: 'button', class: 'link', onClick: () => setPath(entry.path) }, `${entry.name}/`) : entry.name),
                  h('td', { 'data-label': 'Type' }, entry.type),
                  h('td', { 'data-label': 'Size' }, entry.type === 'directory' ? '' : formatBytes(entry.size)),
                  h('td', { 'data-label': 'Modified' }, entry.implied ? '' : formatTime(new Date(entry.mtimeMs).toISOString())),
                  h('td', { 'data-label': 'In image' }, entry.implied ? '' : h('a', { href: `${imageHref(client, inImage)}?path=${encodeURIComponent(dir)}` }, inImage)),
                );
              }),
            ),
          )),
    page && page.entries.length < page.total && h('p', { class: 'figures' }, `the first ${page.entries.length} of ${page.total}: open the image to see them all`),
  );
}
