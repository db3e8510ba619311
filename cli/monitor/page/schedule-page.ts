/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { formatTime } from './format.ts';
import { fetchDue, type DuePreview, type DueRow } from './policies-api.ts';
import { SchedulerSwitch } from './policies-switch.ts';

type VNode = JSX.Element;

/** This instant in this browser's local time, as a datetime-local input writes it (`2026-12-04T10:30`). */
function localNow(): string {
  const now = new Date();
  now.setSeconds(0, 0);
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/**
 * `#/schedule`: the due preview of `cairn schedule due --all` for a chosen
 * instant (default now): what would start, and why every other schedule
 * would not. The input's local time is sent as an absolute instant.
 */
export function SchedulePage({ version }: { version: number }): VNode {
  const [at, setAt] = useState(localNow);
  const [preview, setPreview] = useState<DuePreview | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [switched, setSwitched] = useState(0);
  useEffect(() => {
    const instant = new Date(at);
    if (at === '' || Number.isNaN(instant.getTime())) return setProblem(`${JSON.stringify(at)} is not a date and time`);
    let current = true;
    fetchDue(instant).then(
      (answer) => current && (setPreview(answer), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [at, version, switched]);
  return h(
    'section',
    { class: 'schedule' },
    h('h1', null, 'Schedule'),
    h(
      'form',
      { class: 'due-at', onSubmit: (e: Event) => e.preventDefault() },
      h('label', null, 'Due at', h('input', { type: 'datetime-local', name: 'at', value: at, step: 60, onChange: (e: Event) => setAt((e.target as HTMLInputElement).value) })),
      h('button', { type: 'button', onClick: () => setAt(localNow()) }, 'Now'),
    ),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    preview && h(SchedulerSwitch, { suspended: preview.suspended, onChange: () => setSwitched((n) => n + 1) }),
    preview ? h(PreviewTables, { preview }) : !problem && h('p', null, 'Loading…'),
  );
}

function PreviewTables({ preview }: { preview: DuePreview }): VNode {
  const check = preview.catalogCheck;
  return h(
    'div',
    { 'data-testid': 'due-preview', 'data-at': preview.at },
    h('p', { class: 'note' }, `At ${formatTime(preview.at)} (${preview.at})`),
    h('h2', null, `Due (${preview.due.length})`),
    preview.due.length === 0
      ? h('p', { class: 'nothing' }, 'Nothing is due.')
      : h(DueTable, { rows: preview.due, kind: 'due', columns: ['Policy', 'Client', 'Schedule', 'Level', 'Due since', 'Window', 'Why'], cells: (d) => [d.policy, d.client, d.schedule, d.level ?? '', formatTime(d.dueSince), `${formatTime(d.windowStart)} – ${formatTime(d.windowEnd)}`, d.reason] }),
    preview.verifies.length > 0 && [h('h2', null, 'Verifies due'), h(DueTable, { rows: preview.verifies, kind: 'due', columns: ['Policy', 'Client', 'Image', 'Due since', 'Why'], cells: (d) => [d.policy, d.client, d.backupId ?? '', formatTime(d.dueSince), d.reason] })],
    preview.rehearsals.length > 0 && [h('h2', null, 'Rehearsals due'), h(DueTable, { rows: preview.rehearsals, kind: 'due', columns: ['Policy', 'Client', 'Image', 'Due since', 'Why'], cells: (d) => [d.policy, d.client, d.backupId ?? '', formatTime(d.dueSince), d.reason] })],
    check && [
      h('h2', null, 'Catalog check'),
      h('ul', { class: 'plain checks' }, check.due && h('li', { class: 'due' }, `due (policy ${check.due.policy}${check.due.repair ? ', with repair' : ''}): ${check.due.reason}`), check.notDue.map((n) => h('li', null, `not due (policy ${n.policy}): ${n.reason}`))),
    ],
    h('h2', null, `Not due (${preview.notDue.length})`),
    preview.notDue.length === 0 ? h('p', { class: 'nothing' }, 'Nothing.') : h(DueTable, { rows: preview.notDue as DueRow[], kind: 'not-due', columns: ['Policy', 'Client', 'Schedule', 'Why not'], cells: (n) => [n.policy, n.client, n.schedule, n.reason] }),
  );
}

function DueTable({ rows, kind, columns, cells }: { rows: DueRow[]; kind: string; columns: string[]; cells(row: DueRow): string[] }): VNode {
  return h(
    'table',
    { class: `cards ${kind}` },
    h('thead', null, h('tr', null, columns.map((c) => h('th', null, c)))),
    h(
      'tbody',
      null,
      rows.map((row) => h('tr', { 'data-key': `${row.policy}/${row.client}/${row.schedule}` }, cells(row).map((text, i) => h('td', { 'data-label': columns[i] }, text)))),
    ),
  );
}
