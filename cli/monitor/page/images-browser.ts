/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { formatBytes, formatTime } from './format.ts';
import { fetchDirectory, startRestore, type EntryRow, type ImageRow } from './images-api.ts';

type VNode = JSX.Element;

/** The directories from `/` down to `path`, each with its own path, for the breadcrumbs. */
function crumbs(path: string): { name: string; path: string }[] {
  const out = [{ name: '/', path: '/' }];
  let at = '';
  for (const part of path.split('/').filter((p) => p !== '')) {
    at += `/${part}`;
    out.push({ name: part, path: at });
  }
  return out;
}

/**
 * One image: its directories walked by breadcrumbs, entries picked by
 * checkbox (across directories), and the restore of what is picked to a
 * directory on the serving machine, which starts a restore job and links
 * to its page.
 */
export function ImageBrowser({ client, backupId, image, initialPath }: { client: string; backupId: string; image?: ImageRow; initialPath?: string }): VNode {
  const [path, setPath] = useState(initialPath ?? '/');
  const [entries, setEntries] = useState<EntryRow[] | undefined>(undefined);
  const [total, setTotal] = useState(0);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [picked, setPicked] = useState<string[]>([]);
  useEffect(() => setPath(initialPath ?? '/'), [initialPath]);
  useEffect(() => {
    let current = true;
    setEntries(undefined);
    fetchDirectory(backupId, path, 0).then(
      (page) => current && (setEntries(page.entries), setTotal(page.total), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [backupId, path]);
  const more = (): void => {
    fetchDirectory(backupId, path, entries?.length ?? 0).then(
      (page) => (setEntries([...(entries ?? []), ...page.entries]), setTotal(page.total)),
      (error: Error) => setProblem(error.message),
    );
  };
  const toggle = (entryPath: string, on: boolean): void => setPicked(on ? [...picked.filter((p) => p !== entryPath), entryPath] : picked.filter((p) => p !== entryPath));
  return h(
    'div',
    { class: 'browser' },
    h('p', null, h('a', { href: `#/images/${encodeURIComponent(client)}` }, `← images of ${client}`)),
    h('h2', null, `Image ${backupId}`),
    image && h('p', { class: 'figures' }, `${image.policy} / ${image.schedule} · ${image.level} · ${formatTime(image.createdAt)} · ${formatBytes(image.bytes)} · ${image.fileCount} files · expires ${formatTime(image.expiresAt)}`),
    h(
      'nav',
      { class: 'crumbs', 'aria-label': 'directory' },
      crumbs(path).map((crumb, i, all) => [i > 1 ? h('span', { class: 'sep' }, '/') : null, i === all.length - 1 ? h('b', null, crumb.name) : h('button', { type: 'button', class: 'link', onClick: () => setPath(crumb.path) }, crumb.name)]),
    ),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    entries === undefined
      ? h('p', null, 'Loading…')
      : entries.length === 0
        ? h('p', null, 'Nothing here.')
        : h(
            'table',
            { class: 'jobs entries' },
            h('thead', null, h('tr', null, ['Pick', 'Name', 'Type', 'Size', 'Modified'].map((t) => h('th', null, t)))),
            h(
              'tbody',
              null,
              entries.map((entry) =>
                h(
                  'tr',
                  { key: entry.path, 'data-entry': entry.name },
                  h('td', { 'data-label': 'Pick' }, h('input', { type: 'checkbox', 'aria-label': `pick ${entry.name}`, checked: picked.includes(entry.path), onChange: (e: Event) => toggle(entry.path, (e.target as HTMLInputElement).checked) })),
                  h('td', { 'data-label': 'Name', class: 'name' }, entry.type === 'directory' ? h('button', { type: 'button', class: 'link', onClick: () => setPath(entry.path) }, `${entry.name}/`) : entry.name, entry.linkTarget !== undefined ? h('span', { class: 'figures' }, ` → ${entry.linkTarget}`) : null),
                  h('td', { 'data-label': 'Type' }, entry.type),
                  h('td', { 'data-label': 'Size' }, entry.type === 'directory' ? '' : formatBytes(entry.size)),
                  h('td', { 'data-label': 'Modified' }, entry.implied ? '' : formatTime(new Date(entry.mtimeMs).toISOString())),
                ),
              ),
            ),
          ),
    entries !== undefined && entries.length < total && h('button', { type: 'button', class: 'more', onClick: more }, `Show more (${entries.length} of ${total})`),
    h(RestoreForm, { backupId, picked, onClear: () => setPicked([]) }),
  );
}

/** The picked paths, the destination and what to do with existing files (as `cairn restore`: refuse unless told). */
function RestoreForm({ backupId, picked, onClear }: { backupId: string; picked: string[]; onClear: () => void }): VNode {
  const [targetDir, setTargetDir] = useState('');
  const [existing, setExisting] = useState('refuse');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [jobId, setJobId] = useState<number | undefined>(undefined);
  const submit = (e: Event): void => {
    e.preventDefault();
    setBusy(true);
    setJobId(undefined);
    startRestore(backupId, { paths: picked, targetDir: targetDir.trim(), existing })
      .then(
        (started) => (setJobId(started.jobId), setProblem(undefined)),
        (error: Error) => setProblem(error.message),
      )
      .finally(() => setBusy(false));
  };
  return h(
    'form',
    { class: 'restore', onSubmit: submit },
    h('h2', null, 'Restore'),
    picked.length === 0
      ? h('p', { class: 'figures' }, 'Pick files or directories above.')
      : h('div', null, h('p', { class: 'figures' }, `${picked.length} picked `, h('button', { type: 'button', class: 'link', onClick: onClear }, 'clear')), h('ul', { class: 'picked' }, picked.map((p) => h('li', { key: p }, p)))),
    h('label', null, 'Destination directory on the Cairn server', h('input', { name: 'targetDir', value: targetDir, placeholder: '/srv/restore/ticket-1234', required: true, onInput: (e: Event) => setTargetDir((e.target as HTMLInputElement).value) })),
    h(
      'label',
      null,
      'Files already there',
      h(
        'select',
        { name: 'existing', value: existing, onChange: (e: Event) => setExisting((e.target as HTMLSelectElement).value) },
        h('option', { value: 'refuse' }, 'refuse: the destination must be new or empty'),
        h('option', { value: 'rename' }, 'keep them as NAME.cairn-old'),
        h('option', { value: 'overwrite' }, 'overwrite them'),
      ),
    ),
    h('button', { type: 'submit', class: 'primary', disabled: busy || picked.length === 0 || targetDir.trim() === '' }, busy ? 'Starting…' : 'Restore'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    jobId !== undefined && h('p', { class: 'started', role: 'status' }, 'Restore job ', h('a', { href: `#/jobs/${jobId}` }, String(jobId)), ' started.'),
  );
}
