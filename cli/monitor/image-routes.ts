import { CairnError } from '#core/errors.ts';
import type { Job } from '#core/model/job.ts';
import { StatusCode } from '#core/status-codes.ts';
import { systemTimer } from '#lambdas/system-clock.ts';
import { browseImageDirectory, listClientPath, searchClientImages } from '../image-browse.ts';
import { restorableImage, startRecordedRestore } from '../recorded-restore.ts';
import { parseIsoTime } from '../time-option.ts';
import { HttpError, readJsonBody } from './http-reply.ts';
import { checkAbsolutePath, checkParams, entryRow, imageRow, pageOfEntries, parsePaging, parseRestoreBody } from './images-view.ts';
import { nameMatcher } from './name-match.ts';
import type { MonitorRoute, RouteContext } from './route.ts';

/** How many hits a search returns, and how many of the client's images (newest first) it reads. */
export const SEARCH_MAX_HITS = 500;
export const SEARCH_MAX_IMAGES = 100;

/** A backup id or client name in the address: anything but `/`, percent-decoded. */
const SEGMENT = '([^/]{1,255})';

function segment(text: string | undefined, what: string): string {
  try {
    return decodeURIComponent(text ?? '');
  } catch {
    throw new HttpError(400, `${what}: ${JSON.stringify(text)} is not a valid percent-encoded name`);
  }
}

/**
 * Cairn's "nothing there" (227: no image, none at that time) as a 404 and a
 * target a restore cannot use as a 409 (not empty, not a directory, not
 * writable), each with Cairn's message; anything else as it is.
 */
async function answering<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CairnError && error.statusCode === StatusCode.IMAGE_NOT_FOUND) throw new HttpError(404, error.message);
    if (error instanceof CairnError && (error.statusCode === StatusCode.INVALID_COMMAND_USAGE || error.statusCode === StatusCode.SYSTEM_ERROR_DURING_RESTORE)) throw new HttpError(409, error.message);
    throw error;
  }
}

/** Whether one directory is the other or holds it: two restores into either would write into one tree. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/** A restore job not ended whose target is, holds or is inside `targetDir` (a restore from the page or any other runtime's restore job). */
async function targetInUse(backend: RouteContext['backend'], targetDir: string): Promise<Job | undefined> {
  for (const state of ['QUEUED', 'ACTIVE'] as const) {
    const found = (await backend.jobs.list({ state })).find((job) => job.type === 'restore' && overlaps(job.target.directory, targetDir));
    if (found) return found;
  }
  return undefined;
}

/** Targets of restores this process is starting: held from the look for a running restore until the new job is recorded. */
const startingTargets = new Set<string>();

/**
 * Starts a restore unless another one writes into the same tree: one still
 * being started here (two clicks at once), or a restore job not ended
 * (`inUse`, which reads the job store: another tab, another process). Two
 * restores into one empty directory would otherwise both find it empty and
 * interleave their files. 409 naming the job (or the start) in the way.
 */
async function oneRestorePerTarget<T>(targetDir: string, inUse: () => Promise<Job | undefined>, start: () => Promise<T>): Promise<T> {
  if ([...startingTargets].some((t) => overlaps(t, targetDir))) throw new HttpError(409, `targetDir: a restore into ${targetDir} is being started: wait for its job, or pick another directory`);
  startingTargets.add(targetDir);
  try {
    const running = await inUse();
    if (running) throw new HttpError(409, `targetDir: ${targetDir} is where restore job ${running.jobId} (${running.state}) writes${running.type === 'restore' && running.target.directory !== targetDir ? ` (${running.target.directory})` : ''}: wait for it to end, or pick another directory`);
    return await start();
  } finally {
    startingTargets.delete(targetDir);
  }
}

/**
 * The Images and restore pages: a client's images (`cairn images`), one
 * image's directory and a client's tree at a time (`cairn ls`), a name
 * searched across a client's images, and a restore of picked paths started
 * as a restore job (cli/recorded-restore.ts).
 */
export const IMAGE_ROUTES: MonitorRoute[] = [
  {
    // Every client with an image, and the images (of one client with ?client=), newest first.
    method: 'GET',
    path: /^\/api\/images$/,
    handle: async ({ url, backend }) => {
      checkParams(url.searchParams, ['client']);
      const client = url.searchParams.get('client') || undefined;
      const all = await backend.catalog.listImages({});
      const clients = [...new Set(all.map((i) => i.client))].sort();
      const images = all.filter((i) => client === undefined || i.client === client).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.backupId.localeCompare(a.backupId));
      return { clients, ...(client ? { client } : {}), images: images.map(imageRow) };
    },
  },
  {
    // One image's directory: `?path=/home/a` (default /), paged by `offset` and `limit`; the directories above what was backed up are there too (implied), so `/` leads down to it.
    method: 'GET',
    path: new RegExp(`^/api/images/${SEGMENT}/entries$`),
    handle: async ({ url, match, backend }) => {
      checkParams(url.searchParams, ['path', 'offset', 'limit']);
      const backupId = segment(match[1], 'backup id');
      const path = checkAbsolutePath('path', url.searchParams.get('path') ?? '/');
      const paging = parsePaging(url.searchParams);
      return answering(async () => {
        const image = await backend.catalog.getImage(backupId);
        if (!image) throw new HttpError(404, `image ${backupId} not found`);
        const { entries, implied } = await browseImageDirectory(backend, image, path);
        return { backupId, image: imageRow(image), path, ...pageOfEntries(entries, path, paging, implied) };
      });
    },
  },
  {
    // A client's tree at a time, as `cairn ls --client C [--at T] [--policy P] PATH`: its images at that time merged.
    method: 'GET',
    path: new RegExp(`^/api/clients/${SEGMENT}/entries$`),
    handle: async ({ url, match, backend }) => {
      checkParams(url.searchParams, ['path', 'at', 'policy', 'offset', 'limit']);
      const client = segment(match[1], 'client');
      const path = checkAbsolutePath('path', url.searchParams.get('path') ?? '/');
      const atText = url.searchParams.get('at');
      let at = backend.clock.now();
      if (atText) {
        try {
          at = parseIsoTime(atText);
        } catch (error) {
          throw new HttpError(400, `at: ${(error as Error).message}`);
        }
      }
      const policy = url.searchParams.get('policy') || undefined;
      const paging = parsePaging(url.searchParams);
      return answering(async () => {
        const { image, images, entries, implied } = await listClientPath(backend, { client, policy, at, path });
        return { client, at: at.toISOString(), backupId: image.backupId, images: images.map((i) => i.backupId), path, ...pageOfEntries(entries, path, paging, implied) };
      });
    },
  },
  {
    // A file name across a client's images: `?name=` a substring (any case) or a glob (name-match.ts); the answer says which.
    method: 'GET',
    path: new RegExp(`^/api/clients/${SEGMENT}/search$`),
    handle: async ({ url, match, backend }) => {
      checkParams(url.searchParams, ['name']);
      const client = segment(match[1], 'client');
      const pattern = url.searchParams.get('name') ?? '';
      if (pattern.trim() === '') throw new HttpError(400, 'name: missing (a part of a file name, or a glob such as *.conf)');
      if (pattern.length > 255 || pattern.includes('/')) throw new HttpError(400, `name: ${JSON.stringify(pattern.slice(0, 255))} is not a file name (no /, at most 255 characters)`);
      const matcher = nameMatcher(pattern);
      const found = await searchClientImages(backend, { client, matches: matcher.matches, maxHits: SEARCH_MAX_HITS, maxImages: SEARCH_MAX_IMAGES });
      return { client, name: pattern, match: matcher.kind, imagesSearched: found.imagesSearched.length, truncated: found.truncated, hits: found.hits.map((hit) => ({ backupId: hit.backupId, createdAt: hit.createdAt, ...entryRow(hit.entry) })) };
    },
  },
  {
    // Restore picked paths of one image into a directory on this machine: a restore job; the answer is its id.
    method: 'POST',
    path: new RegExp(`^/api/images/${SEGMENT}/restore$`),
    handle: async ({ request, match, backend, actor }) => {
      const backupId = segment(match[1], 'backup id');
      const body = parseRestoreBody(await readJsonBody(request));
      const image = await backend.catalog.getImage(backupId);
      if (!image) throw new HttpError(404, `image ${backupId} not found`);
      // Being expired, or every copy marked broken: the image is there but cannot be restored (restorableImage says why).
      await restorableImage(backend, backupId).catch((error: unknown) => {
        throw new HttpError(409, (error as Error).message);
      });
      return answering(async () => {
        const started = await oneRestorePerTarget(body.targetDir, () => targetInUse(backend, body.targetDir), () => startRecordedRestore(backend, { backupId, ...body, by: actor }, systemTimer));
        // The job record says how it ends; this process only has to keep it running.
        void started.finished;
        return { jobId: started.jobId, backupId, targetDir: body.targetDir, paths: body.paths };
      });
    },
  },
];
