/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { driveAction, fetchMedia, fetchStorage, mediaAction, MEDIA_STATES, type MediaFilters, type MediaRow, type StorageOverview } from './storage-api.ts';
import { DrivesTable, MediaTable, RobotsTable, UnitsTable } from './storage-tables.ts';

type VNode = JSX.Element;

/**
 * The Storage page (`#/storage`): storage units, robots and their drives,
 * and volumes, as the `cairn storage-unit | robot | drive | media` lists
 * show them; Up/Down on a drive and Freeze/Unfreeze on a volume. It reloads
 * on every change the live feed reports and after each action.
 */
export function StoragePage({ version }: { version: number }): VNode {
  const [overview, setOverview] = useState<StorageOverview | undefined>(undefined);
  const [media, setMedia] = useState<MediaRow[] | undefined>(undefined);
  const [filters, setFilters] = useState<MediaFilters>({ pool: '', state: '' });
  const [problem, setProblem] = useState<string | undefined>(undefined);
  // Bumped after an action: the tables reload even when no job changed.
  const [acted, setActed] = useState(0);
  // The record an action is running on ("drive:NAME", "media:ID"): its buttons wait.
  const [busy, setBusy] = useState<string | undefined>(undefined);

  useEffect(() => {
    let current = true;
    fetchStorage().then(
      (body) => current && (setOverview(body), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [version, acted]);
  useEffect(() => {
    let current = true;
    fetchMedia(filters).then(
      (rows) => current && setMedia(rows),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [filters, version, acted]);

  const act = useCallback((key: string, action: () => Promise<unknown>) => {
    setBusy(key);
    action()
      .then(
        () => setProblem(undefined),
        (error: Error) => setProblem(error.message),
      )
      .finally(() => {
        setBusy(undefined);
        setActed((n) => n + 1);
      });
  }, []);
  const onDrive = useCallback((name: string, verb: 'up' | 'down') => act(`drive:${name}`, () => driveAction(name, verb)), [act]);
  const onMedia = useCallback((mediaId: string, verb: 'freeze' | 'unfreeze') => act(`media:${mediaId}`, () => mediaAction(mediaId, verb)), [act]);

  const select = (name: keyof MediaFilters, label: string, options: string[]): VNode =>
    h('label', null, label, h('select', { name, value: filters[name], onChange: (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLSelectElement).value }) }, ['', ...options].map((o) => h('option', { value: o }, o === '' ? 'any' : o))));

  return h(
    'section',
    { class: 'storage' },
    h('h1', null, 'Storage'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    h('h2', null, 'Storage units'),
    overview === undefined ? h('p', null, 'Loading…') : h(UnitsTable, { units: overview.units }),
    h('h2', null, 'Robots & drives'),
    overview === undefined
      ? h('p', null, 'Loading…')
      : overview.robots.length === 0
        ? h('p', null, 'No robots (cairn robot add).')
        : [h(RobotsTable, { robots: overview.robots }), h(DrivesTable, { drives: overview.drives, busy, onAction: onDrive })],
    h('h2', null, 'Media'),
    h('form', { class: 'filters', onSubmit: (e: Event) => e.preventDefault() }, select('pool', 'Pool', overview?.pools.map((p) => p.name) ?? []), select('state', 'State', MEDIA_STATES)),
    media === undefined ? h('p', null, 'Loading…') : media.length === 0 ? h('p', null, 'No volumes.') : h(MediaTable, { media, busy, onAction: onMedia }),
  );
}
