/** The Images area's addresses (`#/images/...`), shared by its views and the job page's link. */

/** `#/images/<client>/<backupId>`: each part percent-encoded. */
export function imageHref(client?: string, backupId?: string): string {
  return `#/images${client ? `/${encodeURIComponent(client)}` : ''}${client && backupId ? `/${encodeURIComponent(backupId)}` : ''}`;
}

/** The parent directory of an image path (`/` for a top-level one). */
export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}
