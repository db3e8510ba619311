/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { formatBytes, formatTime } from './format.ts';
import { fetchImages, searchName, type ImageRow, type SearchAnswer } from './images-api.ts';
import { ImageBrowser } from './images-browser.ts';
import { ClientTree } from './images-tree.ts';
import { imageHref, parentOf } from './images-address.ts';

type VNode = JSX.Element;

/**
 * The Images view: pick a client, see its images newest first (as `cairn
 * images`), search a file name across them, and open one to walk and restore
 * from (images-browser.ts).
 */
export function ImagesPage({ client, backupId, path, tree }: { client?: string; backupId?: string; path?: string; tree?: boolean }): VNode {
  const [clients, setClients] = useState<string[] | undefined>(undefined);
  const [images, setImages] = useState<ImageRow[]>([]);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    let current = true;
    fetchImages(client ?? '').then(
      (answer) => {
        if (!current) return;
        setClients(answer.clients);
        setImages(client ? answer.images : []);
        setProblem(undefined);
        // No client chosen and only one to choose: show its images.
        if (!client && answer.clients.length === 1) location.hash = imageHref(answer.clients[0]);
      },
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [client]);
  const image = backupId ? images.find((i) => i.backupId === backupId) : undefined;
  return h(
    'section',
    { class: 'images' },
    h('h1', null, 'Images'),
    h(
      'form',
      { class: 'filters', onSubmit: (e: Event) => e.preventDefault() },
      h(
        'label',
        null,
        'Client',
        h(
          'select',
          { name: 'client', value: client ?? '', onChange: (e: Event) => (location.hash = imageHref((e.target as HTMLSelectElement).value || undefined)) },
          h('option', { value: '' }, clients === undefined ? 'loading…' : 'choose a client'),
          (clients ?? []).map((c) => h('option', { value: c }, c)),
        ),
      ),
    ),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    clients !== undefined && clients.length === 0 && h('p', null, 'No images yet.'),
    client && h(NameSearch, { client }),
    client && tree
      ? h(ClientTree, { client })
      : client && backupId
        ? h(ImageBrowser, { key: backupId, client, backupId, image, initialPath: path })
        : client && [h('p', null, h('a', { href: `${imageHref(client)}/tree` }, `Browse ${client} at a time (its images merged, as cairn ls)`)), h(ImagesTable, { client, images })],
  );
}

function ImagesTable({ client, images }: { client: string; images: ImageRow[] }): VNode {
  if (images.length === 0) return h('p', null, 'No images of this client.');
  return h(
    'table',
    { class: 'jobs image-list' },
    h('thead', null, h('tr', null, ['Backup ID', 'Policy', 'Level', 'Taken', 'Size', 'Files', 'Copies', 'Expires'].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      images.map((image) =>
        h(
          'tr',
          { key: image.backupId, 'data-image': image.backupId },
          h('td', { 'data-label': 'Backup ID' }, h('a', { href: imageHref(client, image.backupId) }, image.backupId), image.state !== 'ACTIVE' || image.broken ? h('div', { class: 'waiting' }, image.broken ? 'broken' : image.state) : null),
          h('td', { 'data-label': 'Policy' }, `${image.policy} / ${image.schedule}`),
          h('td', { 'data-label': 'Level' }, image.level),
          h('td', { 'data-label': 'Taken' }, formatTime(image.createdAt)),
          h('td', { 'data-label': 'Size' }, formatBytes(image.bytes)),
          h('td', { 'data-label': 'Files' }, String(image.fileCount)),
          h('td', { 'data-label': 'Copies' }, image.copies.map((c) => `${c.copyNumber}: ${c.storageUnit}`).join(', ')),
          h('td', { 'data-label': 'Expires' }, formatTime(image.expiresAt)),
        ),
      ),
    ),
  );
}

/** A file name across the client's images: a part of it in any case, or a glob (`*.conf`); each hit opens its image at its directory. */
function NameSearch({ client }: { client: string }): VNode {
  const [name, setName] = useState('');
  const [found, setFound] = useState<SearchAnswer | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  useEffect(() => (setFound(undefined), setProblem(undefined)), [client]);
  const search = (e: Event): void => {
    e.preventDefault();
    setBusy(true);
    searchName(client, name.trim())
      .then(
        (answer) => (setFound(answer), setProblem(undefined)),
        (error: Error) => (setFound(undefined), setProblem(error.message)),
      )
      .finally(() => setBusy(false));
  };
  return h(
    'div',
    { class: 'search' },
    h(
      'form',
      { class: 'search-form', role: 'search', onSubmit: search },
      h('label', null, 'Find a file', h('input', { name: 'name', type: 'search', value: name, placeholder: 'part of a name, or a glob: *.conf', onInput: (e: Event) => setName((e.target as HTMLInputElement).value) })),
      h('button', { type: 'submit', disabled: busy || name.trim() === '' }, busy ? 'Searching…' : 'Search'),
    ),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    found &&
      h(
        'div',
        { class: 'hits' },
        h('p', { class: 'figures' }, `${found.hits.length} found${found.truncated ? ' (the first ones: refine the name)' : ''} in ${found.imagesSearched} images, matching ${found.match === 'glob' ? 'the glob' : 'names containing'} `, h('code', null, found.name)),
        found.hits.length > 0 &&
          h(
            'ul',
            { class: 'hit-list' },
            found.hits.map((hit) =>
              h(
                'li',
                { key: `${hit.backupId}:${hit.path}`, 'data-hit': hit.path },
                h('a', { href: `${imageHref(client, hit.backupId)}?path=${encodeURIComponent(parentOf(hit.path))}` }, hit.path),
                h('span', { class: 'figures' }, ` ${hit.backupId} · ${hit.type === 'file' ? formatBytes(hit.size) : hit.type} · ${formatTime(new Date(hit.mtimeMs).toISOString())}`),
              ),
            ),
          ),
      ),
  );
}
