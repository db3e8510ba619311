/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JobRow } from './api.ts';
import { fetchImages } from './images-api.ts';
import { imageHref } from './images-address.ts';

/** The fields of a backup or restore job this component reads (api.ts JobRow has the common ones). */
type ImageJob = JobRow & { backupId?: string; source?: { backupId?: string; pointInTime?: string }; target?: { directory: string; existing: string }; paths?: string[]; notRestored?: string[] };

/**
 * On a job's page (job-page.ts renders it): for a backup job whose image is
 * in the catalog, "Browse image / Restore…"; for a restore job, what it
 * restores where, and the members it refused or could not restore.
 */
export function ImageLink({ job }: { job: ImageJob }): JSX.Element | null {
  const [exists, setExists] = useState(false);
  const { backupId, client } = job;
  useEffect(() => {
    if (job.type !== 'backup' || job.state !== 'DONE' || !backupId || !client) return;
    let current = true;
    fetchImages(client).then(
      (answer) => current && setExists(answer.images.some((i) => i.backupId === backupId)),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [job.type, job.state, backupId, client]);
  if (job.type === 'restore' && job.target) {
    const from = job.source?.backupId;
    return h(
      'div',
      { class: 'image-link' },
      h('p', null, 'Restores ', job.paths && job.paths.length > 0 ? `${job.paths.length} picked path${job.paths.length === 1 ? '' : 's'}` : 'the whole image', ' of ', from && client ? h('a', { href: imageHref(client, from) }, from) : (job.source?.pointInTime ?? '?'), ` to ${job.target.directory} (existing entries: ${job.target.existing})`),
      job.paths && job.paths.length > 0 && h('ul', { class: 'picked' }, job.paths.map((p) => h('li', { key: p }, p))),
      job.notRestored && job.notRestored.length > 0 && [h('h2', null, 'Not restored'), h('ul', { class: 'picked' }, job.notRestored.map((p) => h('li', { key: p }, p)))],
    );
  }
  if (!exists || !backupId || !client) return null;
  return h('p', { class: 'image-link' }, h('a', { href: imageHref(client, backupId) }, 'Browse image / Restore…'));
}
