/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import type { JobRow } from './api.ts';
import { formatBytes } from './format.ts';

type VNode = JSX.Element;

export function StatusCell({ job }: { job: JobRow }): VNode | null {
  if (job.statusCode === undefined) return null;
  return h('span', { class: job.statusCode === 0 ? 'ok' : job.statusCode === 1 ? 'partial' : 'failed', title: job.statusText }, h('b', null, String(job.statusCode)), ' ', job.statusText ?? '');
}

/** Bytes, files and throughput, with a bar. */
export function Progress({ job }: { job: JobRow }): VNode {
  const { bytes, files, throughputBps } = job.progress;
  // A job records what it moved, not what it has left to move: the bar is full when it ended, moving while it runs.
  const share = job.state === 'DONE' ? 1 : undefined;
  return h(
    'div',
    { class: 'progress' },
    share === undefined ? h('div', { class: job.state === 'ACTIVE' ? 'bar running' : 'bar' }) : h('div', { class: 'bar', role: 'progressbar', 'aria-valuenow': Math.round(share * 100), 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { class: 'fill', style: { width: `${Math.round(share * 100)}%` } })),
    h('span', { class: 'figures' }, `${formatBytes(bytes)} · ${files} files${job.state === 'ACTIVE' ? ` · ${formatBytes(throughputBps)}/s` : ''}`),
  );
}
