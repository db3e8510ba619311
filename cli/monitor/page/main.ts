/// <reference lib="dom" />
import { h, render, type ComponentChildren, type JSX } from 'preact';

type VNode = JSX.Element;
import { useCallback, useEffect, useState } from 'preact/hooks';
import { cancelJob, fetchJob, fetchJobs, type Filters, type JobRow } from './api.ts';
import { formatBytes, formatTime } from './format.ts';

/*
 * The activity monitor's page: Preact with `h` (no JSX transform, no
 * template strings turned into markup). Every text the server sends (a file
 * name, a job's error, a detail line) is a child string, which Preact sets
 * as a text node: nothing here writes HTML, so a name like
 * `<img src=x onerror=alert(1)>` shows as those characters.
 */

/** `#/jobs/12` shows job 12; anything else the jobs table. */
function routeOf(hash: string): { jobId?: number } {
  const match = /^#\/jobs\/(\d+)$/.exec(hash);
  return match ? { jobId: Number(match[1]) } : {};
}

/** A counter that goes up on every `jobs` event of the live feed; views refetch when it changes. */
function useLiveVersion(): { version: number; live: boolean } {
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  useEffect(() => {
    const source = new EventSource('/api/events');
    source.addEventListener('jobs', () => setVersion((v) => v + 1));
    source.addEventListener('open', () => setLive(true));
    source.addEventListener('error', () => setLive(false));
    return () => source.close();
  }, []);
  return { version, live };
}

function App(): VNode {
  const [route, setRoute] = useState(routeOf(location.hash));
  useEffect(() => {
    const onHash = (): void => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const { version, live } = useLiveVersion();
  return h(
    'div',
    { class: 'monitor' },
    h('header', null, h('a', { href: '#/jobs', class: 'brand' }, 'Cairn activity monitor'), h('span', { class: live ? 'live on' : 'live off', 'data-testid': 'live' }, live ? 'live' : 'reconnecting')),
    h('main', null, route.jobId === undefined ? h(JobsPage, { version }) : h(JobPage, { jobId: route.jobId, version })),
  );
}

const STATES = ['', 'QUEUED', 'ACTIVE', 'DONE'];

function JobsPage({ version }: { version: number }): VNode {
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

function StatusCell({ job }: { job: JobRow }): VNode | null {
  if (job.statusCode === undefined) return null;
  return h('span', { class: job.statusCode === 0 ? 'ok' : job.statusCode === 1 ? 'partial' : 'failed', title: job.statusText }, h('b', null, String(job.statusCode)), ' ', job.statusText ?? '');
}

/** Bytes, files and throughput, with a bar. */
function Progress({ job }: { job: JobRow }): VNode {
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

function JobPage({ jobId, version }: { jobId: number; version: number }): VNode {
  const [job, setJob] = useState<JobRow | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [cancelling, setCancelling] = useState(false);
  useEffect(() => {
    fetchJob(jobId).then(
      (row) => (setJob(row), setProblem(undefined)),
      (error: Error) => setProblem(error.message),
    );
  }, [jobId, version]);
  const cancel = useCallback(() => {
    setCancelling(true);
    cancelJob(jobId)
      .then(() => fetchJob(jobId))
      .then(setJob, (error: Error) => setProblem(error.message))
      .finally(() => setCancelling(false));
  }, [jobId]);
  if (!job) return h('section', null, h('p', null, problem ?? 'Loading…'), h('a', { href: '#/jobs' }, '← all jobs'));
  const rows: [string, ComponentChildren][] = [
    ['Kind', job.type],
    ['State', job.state],
    ['Status', h(StatusCell, { job })],
    ['Waiting for', job.state !== 'DONE' ? job.waitingReason : undefined],
    ['Error', job.error],
    ['Client', job.client],
    ['Policy', job.policy && `${job.policy}${job.schedule ? ` / ${job.schedule}` : ''}`],
    ['Level', job.level],
    ['Storage unit', job.storageUnit],
    ['Selections', job.selections?.join(', ')],
    ['Volumes', job.volumes?.join(', ')],
    ['Progress', h(Progress, { job })],
    ['Current file', job.progress.currentPath],
    ['Queued', formatTime(job.queuedAt)],
    ['Started', formatTime(job.startedAt)],
    ['Ended', formatTime(job.endedAt)],
  ];
  return h(
    'section',
    { class: 'job' },
    h('a', { href: '#/jobs' }, '← all jobs'),
    h('h1', null, `Job ${job.jobId}`),
    job.state !== 'DONE' && h('button', { type: 'button', class: 'cancel', disabled: cancelling, onClick: cancel }, cancelling ? 'Cancelling…' : 'Cancel job'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    h('dl', null, rows.filter(([, value]) => value !== undefined && value !== '').map(([label, value]) => [h('dt', null, label), h('dd', null, value)])),
    job.attempts.length > 0 && [h('h2', null, 'Attempts'), h('ol', { class: 'attempts' }, job.attempts.map((a) => h('li', null, `attempt ${a.attempt}: status ${a.statusCode}${a.error ? ` (${a.error})` : ''}, ended ${formatTime(a.endedAt)}`)))],
    h('h2', null, 'Timeline'),
    h(
      'ol',
      { class: 'timeline' },
      timeline(job).map((entry) => h('li', null, h('time', null, formatTime(entry.at)), ' ', entry.message)),
    ),
  );
}

/** The job's state changes and its detail lines, oldest first. */
function timeline(job: JobRow): { at: string; message: string }[] {
  const entries = [{ at: job.queuedAt, message: 'queued' }, ...(job.startedAt ? [{ at: job.startedAt, message: 'active' }] : []), ...(job.details ?? []), ...(job.endedAt ? [{ at: job.endedAt, message: `done, status ${job.statusCode ?? '?'}` }] : [])];
  return entries.sort((a, b) => a.at.localeCompare(b.at));
}

const root = document.getElementById('app');
if (root) render(h(App, null), root);
