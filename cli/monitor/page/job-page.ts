/// <reference lib="dom" />
import { h, type ComponentChildren, type JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { cancelJob, type JobRow } from './api.ts';
import { fetchJobDetail, restartJob, type JobDetail } from './job-api.ts';
import { ThroughputChart } from './job-chart.ts';
import { formatTime } from './format.ts';
import { CostSection, Progress, StatusCell, driveNames, volumeNames } from './job-parts.ts';
import { ImageLink } from './image-link.ts';

type VNode = JSX.Element;

/** The kinds whose agent records a throughput series (`progress.samples`): a backup's data path, a restore's and a verify's reads, a duplicate's copy. */
const CHARTED_KINDS: ReadonlySet<string> = new Set(['backup', 'restore', 'verify', 'duplicate']);

export function JobPage({ jobId, version }: { jobId: number; version: number }): VNode {
  const [job, setJob] = useState<JobDetail | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [cancelling, setCancelling] = useState(false);
  const [restarting, setRestarting] = useState(false);
  useEffect(() => {
    fetchJobDetail(jobId).then(
      (row) => (setJob(row), setProblem(undefined)),
      (error: Error) => setProblem(error.message),
    );
  }, [jobId, version]);
  const cancel = useCallback(() => {
    setCancelling(true);
    cancelJob(jobId)
      .then(() => fetchJobDetail(jobId))
      .then(setJob, (error: Error) => setProblem(error.message))
      .finally(() => setCancelling(false));
  }, [jobId]);
  // What `cairn jobs restart` does; the page then shows the new job.
  const restart = useCallback(() => {
    setRestarting(true);
    restartJob(jobId).then(
      (started) => (setRestarting(false), void (location.hash = `#/jobs/${started.jobId}`)),
      (error: Error) => (setProblem(error.message), setRestarting(false)),
    );
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
    // Where a restart went: the one job it ran (a second restart is refused, naming it).
    ['Restarted as', job.restartedAs ? h('a', { href: `#/jobs/${job.restartedAs}`, 'data-testid': 'restarted-as' }, `job ${job.restartedAs}`) : undefined],
    ['Selections', job.selections?.join(', ')],
    ['Volumes', volumeNames(job)],
    ['Drives', driveNames(job)],
    ['Progress', h(Progress, { job })],
    ['Current file', job.progress.currentPath],
    ['Bottleneck', job.bottleneck && `${job.bottleneck.label}: ${job.bottleneck.because}`],
    ['Figures', job.bottleneck?.figures],
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
    job.restartRefusal === undefined && h('button', { type: 'button', class: 'restart', disabled: restarting, onClick: restart }, restarting ? 'Restarting…' : 'Restart job'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    h(ImageLink, { job }),
    h('dl', null, rows.filter(([, value]) => value !== undefined && value !== '').map(([label, value]) => [h('dt', null, label), h('dd', null, value)])),
    job.attempts.length > 0 && [h('h2', null, 'Attempts'), h('ol', { class: 'attempts' }, job.attempts.map((a) => h('li', null, `attempt ${a.attempt}: status `, h('a', { href: `#/status/${a.statusCode}`, class: 'status-link' }, String(a.statusCode)), `${a.error ? ` (${a.error})` : ''}, ended ${formatTime(a.endedAt)}`)))],
    CHARTED_KINDS.has(job.type) && job.state !== 'QUEUED' && [h('h2', null, 'Throughput'), job.throughput && job.throughput.length > 0 ? h(ThroughputChart, { points: job.throughput }) : h('p', { class: 'figures' }, 'No throughput samples recorded (the job was too short, or its agent predates them).')],
    job.cost && h(CostSection, { cost: job.cost }),
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
