/// <reference lib="dom" />
import { h, type ComponentChildren, type JSX } from 'preact';
import { formatBytes, formatTime } from './format.ts';
import type { DriveRow, DriveVerb, MediaRow, RobotRow, StorageUnitRow } from './storage-api.ts';

type VNode = JSX.Element;

/** A table that is a list of cards on a phone and a table on a laptop (monitor.css `table.storage`); each cell carries its label, the buttons' column (no heading) none. */
function Table({ name, headings, rows }: { name: string; headings: string[]; rows: { key: string; attrs?: Record<string, string>; cells: ComponentChildren[] }[] }): VNode {
  return h(
    'table',
    { class: `storage ${name}` },
    h('thead', null, h('tr', null, headings.map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      rows.map((row) => h('tr', { key: row.key, ...row.attrs }, row.cells.map((cell, i) => (headings[i] ? h('td', { 'data-label': headings[i] }, cell) : h('td', { class: 'actions' }, cell))))),
    ),
  );
}

/** Where a unit keeps its images, as `cairn storage-unit list` shows it. */
function location(unit: StorageUnitRow): string {
  if (unit.kind === 'disk') return unit.path ?? '';
  if (unit.kind === 's3') return `s3://${unit.bucket ?? ''}/${unit.prefix ?? ''}`;
  return `robot ${unit.robot ?? ''}, pool ${unit.pool ?? ''}${unit.index ? ` (indexes on ${unit.index.name})` : ''}`;
}

export function UnitsTable({ units }: { units: StorageUnitRow[] }): VNode {
  return h(Table, {
    name: 'units',
    headings: ['Name', 'Kind', 'Location', 'Jobs in use', 'Fragment size', 'Compression'],
    rows: units.map((u) => ({
      key: u.name,
      attrs: { 'data-unit': u.name },
      cells: [u.name, u.kind, location(u), `${u.inUse} of ${u.maxConcurrentJobs}`, formatBytes(u.fragmentSizeBytes), u.compression?.codec === 'zstd' ? `zstd-${u.compression.level ?? 1}` : 'none'],
    })),
  });
}

export function RobotsTable({ robots }: { robots: RobotRow[] }): VNode {
  return h(Table, {
    name: 'robots',
    headings: ['Robot', 'Changer', 'Drives', 'Volumes', 'Client'],
    rows: robots.map((r) => ({
      key: r.name,
      attrs: { 'data-robot': r.name },
      cells: [r.name, r.changer.type === 'mtx' ? `mtx -f ${r.changer.device}` : `${r.changer.script} ${r.changer.changerDevice}`, String(r.drives.length), String(r.volumes), r.client ?? '(this host)'],
    })),
  });
}

const jobLink = (jobId: number | undefined): ComponentChildren => (jobId === undefined ? '' : h('a', { href: `#/jobs/${jobId}` }, `job ${jobId}`));

function badge(state: string): VNode {
  return h('span', { class: `badge ${state.toLowerCase()}` }, state);
}

function driveButton(d: DriveRow, verb: DriveVerb, busy: string | undefined, onAction: (name: string, verb: DriveVerb) => void): VNode {
  const label = verb === 'up' ? 'Up' : verb === 'down' ? 'Down' : 'Reset errors';
  return h('button', { type: 'button', class: `action ${verb}`, disabled: busy !== undefined, 'aria-label': `${label} ${d.name}`, onClick: () => onAction(d.name, verb) }, busy === `drive:${d.name}:${verb}` ? '…' : label);
}

export function DrivesTable({ drives, busy, onAction }: { drives: DriveRow[]; busy: string | undefined; onAction: (name: string, verb: DriveVerb) => void }): VNode {
  return h(Table, {
    name: 'drives',
    headings: ['Drive', 'Robot', 'State', 'Loaded', 'Held by', 'Errors', ''],
    rows: drives.map((d) => {
      return {
        key: d.name,
        attrs: { 'data-drive': d.name },
        cells: [
          d.name,
          `${d.robot} / ${d.index}`,
          [badge(d.state), d.downReason ? h('div', { class: 'reason' }, d.downReason) : null],
          d.loaded?.mediaId ?? '',
          jobLink(d.heldBy),
          String(d.errorCount),
          [driveButton(d, d.state === 'UP' ? 'down' : 'up', busy, onAction), d.errorCount > 0 ? driveButton(d, 'reset', busy, onAction) : null],
        ],
      };
    }),
  });
}

/** Where a volume is, as `cairn media list` shows it. */
function where(m: MediaRow): string {
  if (m.robot === undefined) return m.lastRobot === undefined ? 'outside' : `outside (last in ${m.lastRobot})`;
  return `${m.robot}${m.slot === undefined ? '' : ` slot ${m.slot}`}${m.drive === undefined ? '' : ` in ${m.drive}`}`;
}

export function MediaTable({ media, busy, onAction }: { media: MediaRow[]; busy: string | undefined; onAction: (mediaId: string, verb: 'freeze' | 'unfreeze') => void }): VNode {
  return h(Table, {
    name: 'media',
    headings: ['Media', 'Pool', 'State', 'Where', 'Written', 'Images', 'Held by', 'Expires', ''],
    rows: media.map((m) => {
      const verb = m.state === 'FROZEN' ? 'unfreeze' : 'freeze';
      const waiting = busy === `media:${m.mediaId}`;
      return {
        key: m.mediaId,
        attrs: { 'data-media': m.mediaId },
        cells: [
          m.mediaId,
          m.pool,
          [badge(m.state), m.heldFrom ? h('div', { class: 'reason' }, `from ${m.heldFrom}`) : null],
          where(m),
          `${formatBytes(m.bytesWritten)}${m.capacityBytes ? ` of ${formatBytes(m.capacityBytes)}` : ''}`,
          String(m.images.length),
          jobLink(m.heldBy),
          formatTime(m.expiresAt),
          h('button', { type: 'button', class: `action ${verb}`, disabled: busy !== undefined, 'aria-label': `${verb === 'freeze' ? 'Freeze' : 'Unfreeze'} ${m.mediaId}`, onClick: () => onAction(m.mediaId, verb) }, waiting ? '…' : verb === 'freeze' ? 'Freeze' : 'Unfreeze'),
        ],
      };
    }),
  });
}
