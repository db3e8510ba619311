/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { driveAction, fetchStorage, mediaAction, MEDIA_STATES, type DriveVerb, type MediaFilters, type MediaRow, type StorageOverview } from './storage-api.ts';
import { DrivesTable, MediaTable, RobotsTable, UnitsTable } from './storage-tables.ts';

type VNode = JSX.Element;

/** How often the page looks at the media database itself, for changes no job made. */
const STORAGE_LOOK_MS = 15_000;

/**
 * The Storage page (`#/storage`): storage units, robots and their drives,
 * and volumes, as the `cairn storage-unit | robot | drive | media` lists
 * show them; Up/Down on a drive and Freeze/Unfreeze on a volume. It reloads
 * on every change the live feed reports, after each action, and every 15 s
 * (a `cairn drive down` changes no job, so the feed does not report it).
 */
export function StoragePage({ version }: { version: number }): VNode {
  const [overview, setOverview] = useState<StorageOverview | undefined>(undefined);
  const [media, setMedia] = useState<MediaRow[] | undefined>(undefined);
  const [filters, setFilters] = useState<MediaFilters>({ pool: '', state: '' });
  // Why the last load failed (cleared by the next that succeeds), and why the last action was refused (kept until the next action).
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  // Bumped after an action: the tables reload even when no job changed.
  const [acted, setActed] = useState(0);
  // The record an action is running on ("drive:NAME", "media:ID"): its buttons wait.
  const [busy, setBusy] = useState<string | undefined>(undefined);
  // The live feed reports job changes only; a drive or volume changed by a `cairn` command shows at the next look (while the page is seen).
  const [looked, setLooked] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => document.visibilityState === 'visible' && setLooked((n) => n + 1), STORAGE_LOOK_MS);
    return () => clearInterval(timer);
  }, []);

  // One request a load (the overview with the volumes of the filters): the server reads each listing once for all of it.
  useEffect(() => {
    let current = true;
    fetchStorage(filters).then(
      (body) => current && (setOverview(body), setMedia(body.media), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [filters, version, acted, looked]);

  const act = useCallback((key: string, action: () => Promise<unknown>) => {
    setBusy(key);
    setRefusal(undefined);
    action()
      .catch((error: Error) => setRefusal(error.message))
      .finally(() => {
        setBusy(undefined);
        setActed((n) => n + 1);
      });
  }, []);
  // The reason the next Down records (with who gave it), as `cairn drive down --reason`.
  const [reason, setReason] = useState('');
  const onDrive = useCallback((name: string, verb: DriveVerb) => act(`drive:${name}:${verb}`, () => driveAction(name, verb, reason)), [act, reason]);
  const onMedia = useCallback((mediaId: string, verb: 'freeze' | 'unfreeze') => act(`media:${mediaId}`, () => mediaAction(mediaId, verb)), [act]);

  const select = (name: keyof MediaFilters, label: string, options: string[]): VNode =>
    h('label', null, label, h('select', { name, value: filters[name], onChange: (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLSelectElement).value }) }, ['', ...options].map((o) => h('option', { value: o }, o === '' ? 'any' : o))));

  return h(
    'section',
    { class: 'storage' },
    h('h1', null, 'Storage'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    refusal && h('p', { class: 'problem', role: 'alert' }, refusal),
    h('h2', null, 'Storage units'),
    overview === undefined ? h('p', null, 'Loading…') : h(UnitsTable, { units: overview.units }),
    h('h2', null, 'Robots & drives'),
    overview === undefined
      ? h('p', null, 'Loading…')
      : overview.robots.length === 0
        ? h('p', null, 'No robots (cairn robot add).')
        : [
            h(RobotsTable, { robots: overview.robots }),
            h('form', { class: 'filters', onSubmit: (e: Event) => e.preventDefault() }, h('label', null, 'Reason for Down', h('input', { name: 'reason', value: reason, maxLength: 200, placeholder: 'optional', onInput: (e: Event) => setReason((e.target as HTMLInputElement).value) }))),
            h(DrivesTable, { drives: overview.drives, busy, onAction: onDrive }),
          ],
    h('h2', null, 'Media'),
    h('form', { class: 'filters', onSubmit: (e: Event) => e.preventDefault() }, select('pool', 'Pool', overview?.pools.map((p) => p.name) ?? []), select('state', 'State', MEDIA_STATES)),
    media === undefined ? h('p', null, 'Loading…') : media.length === 0 ? h('p', null, 'No volumes.') : h(MediaTable, { media, busy, onAction: onMedia }),
  );
}
