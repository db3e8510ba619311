/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { fetchJobs, type Filters, type JobRow } from './api.ts';
import { formatTime } from './format.ts';
import { Progress, StatusCell } from './job-parts.ts';

type VNode = JSX.Element;

const STATES = ['', 'QUEUED', 'ACTIVE', 'DONE'];

export function JobsPage({ version }: { version: number }): VNode {
  const [filters, setFilters] = useState<Filters>({ state: '', status: '', client: '', policy: '' });
  const [jobs, setJobs] = useState<JobRow[] | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    let current = true;
    fetchJobs(filters).then(
      (rows) => current && (setJobs(rows), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [filters, version]);
  const field = (name: keyof Filters, label: string): VNode =>
    h('label', null, label, h('input', { name, value: filters[name], inputmode: name === 'status' ? 'numeric' : undefined, onChange: (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLInputElement).value.trim() }) }));
  return h(
    'section',
    null,
    h('h1', null, 'Jobs'),
    h(
      'form',
      { class: 'filters', onSubmit: (e: Event) => e.preventDefault() },
      h('label', null, 'State', h('select', { name: 'state', value: filters.state, onChange: (e: Event) => setFilters({ ...filters, state: (e.target as HTMLSelectElement).value }) }, STATES.map((s) => h('option', { value: s }, s === '' ? 'any' : s)))),
      field('status', 'Status'),
      field('client', 'Client'),
      field('policy', 'Policy'),
    ),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    jobs === undefined ? h('p', null, 'Loading…') : jobs.length === 0 ? h('p', null, 'No jobs.') : h(JobsTable, { jobs }),
  );
}

function JobsTable({ jobs }: { jobs: JobRow[] }): VNode {
  return h(
    'table',
    { class: 'jobs' },
    h('thead', null, h('tr', null, ['Job', 'Kind', 'State', 'Status', 'Client', 'Policy', 'Progress', 'Started'].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      jobs.map((job) =>
        h(
          'tr',
          { key: job.jobId, 'data-job': job.jobId, class: `state-${job.state.toLowerCase()}` },
          h('td', { 'data-label': 'Job' }, h('a', { href: `#/jobs/${job.jobId}` }, String(job.jobId))),
          h('td', { 'data-label': 'Kind' }, job.type),
          h('td', { 'data-label': 'State', class: 'state' }, job.state, job.waitingReason && job.state !== 'DONE' ? h('div', { class: 'waiting' }, job.waitingReason) : null),
          h('td', { 'data-label': 'Status', class: 'status' }, h(StatusCell, { job })),
          h('td', { 'data-label': 'Client' }, job.client ?? ''),
          h('td', { 'data-label': 'Policy' }, job.policy ?? ''),
          h('td', { 'data-label': 'Progress' }, h(Progress, { job })),
          h('td', { 'data-label': 'Started' }, formatTime(job.startedAt ?? job.queuedAt)),
        ),
      ),
    ),
  );
}
