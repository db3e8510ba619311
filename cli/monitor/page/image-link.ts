/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JobRow } from './api.ts';
import { fetchImages } from './images-api.ts';
import { imageHref } from './images-page.ts';

/** On a backup job's page: "Browse image / Restore…" when the image it wrote is in the catalog (job-page.ts renders it). */
export function ImageLink({ job }: { job: JobRow & { backupId?: string } }): JSX.Element | null {
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
  if (!exists || !backupId || !client) return null;
  return h('p', { class: 'image-link' }, h('a', { href: imageHref(client, backupId) }, 'Browse image / Restore…'));
}
