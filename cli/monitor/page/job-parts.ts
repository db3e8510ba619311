/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import type { JobRow } from './api.ts';
import type { JobDetail } from './job-api.ts';
import { formatBytes } from './format.ts';

type VNode = JSX.Element;

export function StatusCell({ job }: { job: JobRow }): VNode | null {
  if (job.statusCode === undefined) return null;
  // The code links to its entry in the status codes' document, served by the monitor (status-page.ts).
  return h('span', { class: job.statusCode === 0 ? 'ok' : job.statusCode === 1 ? 'partial' : 'failed', title: job.statusText }, h('a', { href: `#/status/${job.statusCode}`, class: 'status-link' }, h('b', null, String(job.statusCode))), ' ', job.statusText ?? '');
}

/** Bytes, files and throughput, with a bar. */
export function Progress({ job }: { job: JobRow }): VNode {
  const { bytes, files, throughputBps } = job.progress;
  // A job records what it moved, not what it has left to move: the bar is full when it ended, moving while it runs.
  // An ended job's bar takes its outcome's colour: a full blue bar on a failed or cancelled job would read as "all done".
  const share = job.state === 'DONE' ? 1 : undefined;
  const outcome = job.statusCode === undefined ? '' : job.statusCode === 0 ? '' : job.statusCode === 1 ? ' partial' : ' failed';
  return h(
    'div',
    { class: 'progress' },
    share === undefined ? h('div', { class: job.state === 'ACTIVE' ? 'bar running' : 'bar' }) : h('div', { class: 'bar', role: 'progressbar', 'aria-valuenow': Math.round(share * 100), 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { class: `fill${outcome}`, style: { width: `${Math.round(share * 100)}%` } })),
    h('span', { class: 'figures' }, `${formatBytes(bytes)} · ${files} files${job.state === 'ACTIVE' ? ` · ${formatBytes(throughputBps)}/s` : ''}`),
  );
}

/** The volumes a job used, by media id (a backup records ids, a restore the volumes it reads). */
export function volumeNames(job: JobRow): string | undefined {
  if (!job.volumes || job.volumes.length === 0) return undefined;
  return job.volumes.map((v) => (typeof v === 'string' ? v : v.mediaId)).join(', ');
}

/** The drives a tape job was given, by name (absent on jobs that used none, and on records older than the field). */
export function driveNames(job: JobRow): string | undefined {
  if (!job.drives || job.drives.length === 0) return undefined;
  return job.drives.join(', ');
}

/** The cloud cost `cairn --aws jobs show` prints: the measured counts, their list prices, what is not measured. Only a deployed stack has one. */
export function CostSection({ cost }: { cost: NonNullable<JobDetail['cost']> }): VNode {
  const usd = (value: number): string => `$${value < 0.01 ? value.toPrecision(2) : value.toFixed(2)}`;
  const total = cost.totalUsd === undefined ? `unknown for ${cost.region}` : `${cost.totalAtLeast ? 'at least ' : ''}${usd(cost.totalUsd)}`;
  return h(
    'div',
    { class: 'cost' },
    h('h2', null, 'Cloud cost'),
    h('p', { class: 'figures' }, `${cost.region}, list prices of ${cost.pricesAsOf}`),
    h(
      'table',
      null,
      h(
        'tbody',
        null,
        cost.lines.map((line) =>
          h('tr', null, h('td', null, line.service), h('td', null, line.what), h('td', null, line.unknown !== undefined ? `unknown: ${line.unknown}` : line.usd === undefined ? `price ${cost.priceNote ?? 'unknown'}` : `${line.atLeast ? 'at least ' : ''}${usd(line.usd)}`)),
        ),
        h('tr', { class: 'total' }, h('td', null, 'total'), h('td', null, ''), h('td', null, total)),
      ),
    ),
    h('p', { class: 'figures' }, `Not measured: ${cost.notMeasured.join('; ')}`),
  );
}
