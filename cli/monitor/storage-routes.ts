import type { Drive, Media } from '#core/model/tape-media.ts';
import { readJsonBody } from './http-reply.ts';
import type { MonitorRoute, RouteContext } from './route.ts';
import { downReason, listMediaViews, noFields, parseMediaFilter, pathPart, showDrive, showMedia, storageOverview } from './storage-view.ts';

/** A drive name or media id in a path: anything up to the next slash, decoded (storage-view.ts pathPart). */
const PART = '([^/]{1,200})';

/**
 * A drive action: the EMM call `cairn drive up|down|reset` makes. The drive
 * is looked up first, so a missing one is a 404 naming it (status 219) and
 * nothing is written.
 */
function driveAction(verb: 'up' | 'down' | 'reset', apply: (context: RouteContext, name: string, body: unknown) => Promise<Drive>): MonitorRoute {
  return {
    method: 'POST',
    path: new RegExp(`^/api/storage/drives/${PART}/${verb}$`),
    handle: async (context) => {
      const name = pathPart(context.match[1]!, 'drive');
      const body = await readJsonBody(context.request);
      await showDrive(context.backend, name);
      return apply(context, name, body);
    },
  };
}

/** A volume hold: the EMM call `cairn media freeze|unfreeze` makes (a missing volume is a 404, status 96). */
function mediaAction(verb: 'freeze' | 'unfreeze'): MonitorRoute {
  return {
    method: 'POST',
    path: new RegExp(`^/api/storage/media/${PART}/${verb}$`),
    handle: async ({ match, request, backend }): Promise<Media> => {
      const mediaId = pathPart(match[1]!, 'media');
      noFields(await readJsonBody(request), verb);
      await showMedia(backend, mediaId);
      return backend.emm[verb](mediaId);
    },
  };
}

/**
 * The Storage page's routes: storage units, robots, drives, pools and
 * volumes as the `cairn storage-unit | robot | drive | pool | media` lists
 * give them (with the job that holds each drive and volume now), and the
 * operator's actions on drives (up, down, reset) and volumes (freeze,
 * unfreeze). An action answers with the changed record, as the command's
 * --json does. Like the CLI, an action that finds the record already so
 * (a drive UP put up, a volume not FROZEN unfrozen) changes nothing and is
 * not refused.
 */
export const STORAGE_ROUTES: MonitorRoute[] = [
  {
    method: 'GET',
    // One load of the page: every row, and the volumes of its filter (`pool`, `robot`, `state`), from one read of each listing.
    path: /^\/api\/storage$/,
    handle: async ({ url, backend }) => storageOverview(backend, parseMediaFilter(url.searchParams)),
  },
  { method: 'GET', path: new RegExp(`^/api/storage/drives/${PART}$`), handle: async ({ match, backend }) => showDrive(backend, pathPart(match[1]!, 'drive')) },
  {
    method: 'GET',
    path: /^\/api\/storage\/media$/,
    handle: async ({ url, backend }) => ({ media: await listMediaViews(backend, parseMediaFilter(url.searchParams)) }),
  },
  { method: 'GET', path: new RegExp(`^/api/storage/media/${PART}$`), handle: async ({ match, backend }) => showMedia(backend, pathPart(match[1]!, 'media')) },
  driveAction('up', ({ backend }, name, body) => (noFields(body, 'up'), backend.emm.setDriveState(name, 'UP'))),
  // The reason is recorded with the monitor's actor: the drive's downReason is where the EMM keeps who took it down and why.
  driveAction('down', ({ backend, actor }, name, body) => backend.emm.setDriveState(name, 'DOWN', downReason(body, actor))),
  driveAction('reset', ({ backend }, name, body) => (noFields(body, 'reset'), backend.emm.resetDriveErrors(name))),
  mediaAction('freeze'),
  mediaAction('unfreeze'),
];
