/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { JobPage } from './job-page.ts';
import { JobsPage } from './jobs-page.ts';
import { StatusPage } from './status-page.ts';

/**
 * The page's views by address (`#/jobs`, `#/jobs/12`, ...): the first whose
 * pattern matches the hash is shown; `nav` puts it in the header's menu.
 * Each area (jobs, images, policies, storage) adds its entries here.
 */
export interface PageRoute {
  pattern: RegExp;
  nav?: { label: string; href: string };
  /** The view for a matched hash; `version` goes up on every change the live feed reports. */
  view(match: RegExpExecArray, version: number): JSX.Element;
}

export const PAGES: PageRoute[] = [
  { pattern: /^#\/jobs\/(\d+)$/, view: (match, version) => h(JobPage, { jobId: Number(match[1]), version }) },
  { pattern: /^#\/jobs$/, nav: { label: 'Jobs', href: '#/jobs' }, view: (_match, version) => h(JobsPage, { version }) },
  { pattern: /^#\/status(?:\/(\d{1,5}))?$/, view: (match) => h(StatusPage, match[1] === undefined ? {} : { code: Number(match[1]) }) },
];

/** The view for a hash; anything unknown (and the empty hash) is the jobs table. */
export function pageFor(hash: string, version: number): JSX.Element {
  for (const page of PAGES) {
    const match = page.pattern.exec(hash);
    if (match) return page.view(match, version);
  }
  return h(JobsPage, { version });
}
