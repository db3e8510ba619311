/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { JobPage } from './job-page.ts';
import { JobsPage } from './jobs-page.ts';
import { ImagesPage } from './images-page.ts';
import { PoliciesPage, PolicyPage } from './policies-page.ts';
import { SchedulePage } from './schedule-page.ts';
import { StoragePage } from './storage-page.ts';
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
  // #/images/<client>/tree: the client at a time (no backup id is `tree`: they are <client>_<seconds>).
  { pattern: /^#\/images\/([^/?]+)\/tree$/, view: (match) => h(ImagesPage, { client: decoded(match[1]), tree: true }) },
  // #/images, #/images/<client>, #/images/<client>/<backupId>[?path=<dir>]: each part percent-encoded.
  { pattern: /^#\/images(?:\/([^/?]+))?(?:\/([^/?]+))?(?:\?path=([^&]*))?$/, nav: { label: 'Images', href: '#/images' }, view: (match) => h(ImagesPage, { client: decoded(match[1]), backupId: decoded(match[2]), path: decoded(match[3]) }) },
  { pattern: /^#\/policies\/([^/]+)$/, view: (match, version) => h(PolicyPage, { segment: match[1]!, version }) },
  { pattern: /^#\/policies$/, nav: { label: 'Policies', href: '#/policies' }, view: (_match, version) => h(PoliciesPage, { version }) },
  { pattern: /^#\/schedule$/, nav: { label: 'Schedule', href: '#/schedule' }, view: (_match, version) => h(SchedulePage, { version }) },
  { pattern: /^#\/storage$/, nav: { label: 'Storage', href: '#/storage' }, view: (_match, version) => h(StoragePage, { version }) },
  { pattern: /^#\/status(?:\/(\d{1,5}))?$/, view: (match) => h(StatusPage, match[1] === undefined ? {} : { code: Number(match[1]) }) },
];

/** A percent-encoded part of the address, or undefined (a malformed one too). */
function decoded(part: string | undefined): string | undefined {
  if (!part) return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** The view for a hash; anything unknown (and the empty hash) is the jobs table. */
export function pageFor(hash: string, version: number): JSX.Element {
  for (const page of PAGES) {
    const match = page.pattern.exec(hash);
    if (match) return page.view(match, version);
  }
  return h(JobsPage, { version });
}
