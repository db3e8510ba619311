import type { Image } from '../model/image.ts';

/**
 * Which images expire now and which stay past their date, and why (nbdelete's
 * decision, NetWorker nsrim's). Pure: the images and the instant come in, a
 * decision with its reasons comes out; expire-images.ts carries it out.
 *
 * The rule that keeps restores whole: an incremental's index lists its
 * unchanged files with `fromBackupId` naming the image that holds their data,
 * and its block diffs name `unchangedBlocksIn`. Both are always an image of
 * the incremental's base chain (its base, or what the base's own lines point
 * at, by induction back to the full; docs/image-format.md, Incrementals), so
 * the base chain is a safe bound of what an image's point-in-time view needs
 * without reading an index. An image therefore stays until every image taken
 * against it (directly or through a chain) has expired: its own date moves,
 * in effect, to the latest date of its dependants.
 *
 * An image being expired (state EXPIRED: marked, data being deleted) is
 * never restored or taken as a base again, so it keeps nothing; it is always
 * in `expire`, so a half-done expiration is finished by the next run.
 */

/**
 * A job that has not ended and needs an image chain: a backup's base (its
 * incremental will point into that chain), or the image a restore or a verify
 * reads (a restore of an incremental reads its whole chain; a verify reads
 * one image, and keeping its chain too costs nothing). All of it must stay.
 */
export interface InFlightBackup {
  jobId: number;
  baseBackupId?: string;
  /** What the job does with the chain (default `backup`), for the reason shown. */
  kind?: 'backup' | 'restore' | 'verify' | 'duplicate';
}

/** Why an open job keeps an image: what `cairn images` and a refused expiration say. */
export function jobNeedLabel(job: InFlightBackup): string {
  return NEED_LABEL[job.kind ?? 'backup'](job.jobId);
}

const NEED_LABEL: Record<NonNullable<InFlightBackup['kind']>, (jobId: number) => string> = {
  backup: (jobId) => `backup job ${jobId} is being taken against it and needs it until it ends`,
  restore: (jobId) => `restore job ${jobId} reads it and needs it until it ends`,
  verify: (jobId) => `verify job ${jobId} reads it and needs it until it ends`,
  duplicate: (jobId) => `duplicate job ${jobId} copies it and needs it until it ends`,
};

export interface ExpirationInput {
  /** Every catalogued image of the clients considered (a dependant of another client never exists: bases are the client's own). */
  images: readonly Image[];
  now: Date;
  /** Backup jobs not yet ended, with the base each was given: their base chains are kept. */
  inFlight?: readonly InFlightBackup[];
}

export interface Expiring {
  backupId: string;
  client: string;
  expiresAt: string;
  /** `expired on <date>`, or `finishing an expiration begun earlier` for an EXPIRED image. */
  reason: string;
}

export interface Kept {
  backupId: string;
  client: string;
  expiresAt: string;
  /** Until when it stays at least: the latest date of the images that need it; absent while a running job needs it. */
  keptUntil?: string;
  /** The image (or job, `job <id>`) whose need lasts longest. */
  neededBy: string;
  /** `kept: incremental c1_1795400000 taken against it still needs it until 2026-12-01T00:00:00.000Z`. */
  reason: string;
}

export interface ExpirationPlan {
  /** Images to expire now, newest first: a dependant always comes before the image it depends on, so a run cut short never leaves a dependant without its base. */
  expire: Expiring[];
  /** Images past their date that stay, and why. */
  kept: Kept[];
}

/** The images an image was taken against. One today; per-stream bases may make it several. */
export function basesOf(image: Image): string[] {
  return image.baseBackupId === undefined ? [] : [image.baseBackupId];
}

/** The word for an image in a reason: `full` or `incremental`. */
function kindOf(image: Image): string {
  return image.level === 'full' ? 'full' : 'incremental';
}

/** Why an image is needed and until when: the dependant (or job) needing it longest. `until` undefined: a running job needs it. */
interface Need {
  until: number | undefined;
  by: string;
  byLabel: string;
}

/**
 * Effective end of each ACTIVE image: its own date or the latest end of the
 * ACTIVE images taken against it (transitively), or "open" while a running
 * job's base chain holds it. Computed once per image.
 */
class Dependencies {
  readonly #byId = new Map<string, Image>();
  readonly #dependants = new Map<string, Image[]>();
  readonly #jobNeeds = new Map<string, InFlightBackup>();
  readonly #ends = new Map<string, number>();

  constructor(images: readonly Image[], inFlight: readonly InFlightBackup[]) {
    for (const image of images) this.#byId.set(image.backupId, image);
    for (const image of images) {
      if (image.state !== 'ACTIVE') continue;
      for (const base of basesOf(image)) this.#dependants.set(base, [...(this.#dependants.get(base) ?? []), image]);
    }
    for (const job of inFlight) {
      // The job's base and everything that base needs: all of the chain its incremental will point into.
      const seen = new Set<string>();
      const pending = job.baseBackupId === undefined ? [] : [job.baseBackupId];
      while (pending.length > 0) {
        const id = pending.pop()!;
        if (seen.has(id)) continue;
        seen.add(id);
        if (!this.#jobNeeds.has(id)) this.#jobNeeds.set(id, job);
        const image = this.#byId.get(id);
        if (image) pending.push(...basesOf(image));
      }
    }
  }

  image(backupId: string): Image | undefined {
    return this.#byId.get(backupId);
  }

  /** ACTIVE images taken directly against `backupId`. */
  dependants(backupId: string): Image[] {
    return this.#dependants.get(backupId) ?? [];
  }

  /** Every ACTIVE image that needs `backupId`, directly or through a chain; oldest first. */
  allDependants(backupId: string): Image[] {
    const found = new Map<string, Image>();
    const pending = [...this.dependants(backupId)];
    while (pending.length > 0) {
      const image = pending.pop()!;
      if (found.has(image.backupId)) continue;
      found.set(image.backupId, image);
      pending.push(...this.dependants(image.backupId));
    }
    return [...found.values()].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.backupId < b.backupId ? -1 : 1));
  }

  /** The longest need of `backupId` by others (not its own date), if any. */
  need(backupId: string): Need | undefined {
    const job = this.#jobNeeds.get(backupId);
    if (job !== undefined) return { until: undefined, by: `job ${job.jobId}`, byLabel: jobNeedLabel(job) };
    let best: { image: Image; end: number | undefined } | undefined;
    for (const dependant of this.dependants(backupId)) {
      const end = this.end(dependant.backupId);
      if (best === undefined || end === undefined || (best.end !== undefined && end > best.end)) best = { image: dependant, end };
      if (end === undefined) break;
    }
    if (!best) return undefined;
    const until = best.end === undefined ? 'a running job that needs it ends' : new Date(best.end).toISOString();
    return { until: best.end, by: best.image.backupId, byLabel: `${kindOf(best.image)} ${best.image.backupId} taken against it still needs it until ${until}` };
  }

  /** When `backupId` may go: the later of its own date and its longest need; undefined while a running job needs it. */
  end(backupId: string, visiting: Set<string> = new Set()): number | undefined {
    if (this.#ends.has(backupId)) return this.#ends.get(backupId);
    const image = this.#byId.get(backupId);
    const own = image ? Date.parse(image.expiresAt) : -Infinity;
    if (visiting.has(backupId)) return own; // a cycle cannot happen (a base is older); never loop on a forged catalog
    visiting.add(backupId);
    let end: number | undefined = this.#jobNeeds.has(backupId) ? undefined : own;
    for (const dependant of this.dependants(backupId)) {
      if (end === undefined) break;
      const theirs = this.end(dependant.backupId, visiting);
      end = theirs === undefined ? undefined : Math.max(end, theirs);
    }
    visiting.delete(backupId);
    this.#ends.set(backupId, end as number);
    return end;
  }
}

const newestFirst = (a: Image, b: Image): number => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.backupId < b.backupId ? 1 : a.backupId > b.backupId ? -1 : 0);

/** The scheduled cleanup's decision: images past their date that nothing needs expire; the others are kept, each with its reason. */
export function planExpiration(input: ExpirationInput): ExpirationPlan {
  const deps = new Dependencies(input.images, input.inFlight ?? []);
  const now = input.now.getTime();
  const expire: Expiring[] = [];
  const kept: Kept[] = [];
  for (const image of [...input.images].sort(newestFirst)) {
    const base = { backupId: image.backupId, client: image.client, expiresAt: image.expiresAt };
    if (image.state !== 'ACTIVE') {
      expire.push({ ...base, reason: 'finishing an expiration begun earlier' });
      continue;
    }
    if (Date.parse(image.expiresAt) > now) continue;
    const end = deps.end(image.backupId);
    if (end !== undefined && end <= now) {
      expire.push({ ...base, reason: `expired on ${image.expiresAt}` });
      continue;
    }
    const need = deps.need(image.backupId)!;
    kept.push({ ...base, ...(end === undefined ? {} : { keptUntil: new Date(end).toISOString() }), neededBy: need.by, reason: `kept: ${need.byLabel}` });
  }
  return { expire, kept };
}

/**
 * What an administrator's expiration of one image now (`cairn images expire
 * --backup-id`, bpexpdate -d 0) takes: the image, and with `force` every
 * image that needs it (their data points into it, so they could not be
 * restored without it), newest first. Without `force`, images that need it
 * make it a refusal, naming them.
 */
export type AdministratorExpiration =
  | { allowed: true; expire: Expiring[] }
  | { allowed: false; reason: string; dependants: string[] };

export function planAdministratorExpiration(input: ExpirationInput & { backupId: string; force: boolean }): AdministratorExpiration {
  const deps = new Dependencies(input.images, input.inFlight ?? []);
  const target = deps.image(input.backupId);
  if (!target) return { allowed: false, reason: `image ${input.backupId} is not in the catalog`, dependants: [] };
  const need = deps.need(input.backupId);
  if (need?.until === undefined && need !== undefined && need.by.startsWith('job ')) {
    // A running job's incremental will point into it: not even --force removes data a job is reading.
    return { allowed: false, reason: `image ${input.backupId} cannot be expired now: ${need.byLabel}`, dependants: [need.by] };
  }
  const dependants = deps.allDependants(input.backupId);
  if (dependants.length > 0 && !input.force) {
    const direct = deps.dependants(input.backupId).map((d) => `${kindOf(d)} ${d.backupId}`);
    const also = dependants.length > direct.length ? ` (and through them ${dependants.length - direct.length} more)` : '';
    return {
      allowed: false,
      reason: `image ${input.backupId} cannot be expired: ${direct.join(', ')} ${direct.length === 1 ? 'was' : 'were'} taken against it and still ${direct.length === 1 ? 'needs' : 'need'} it${also}; --force expires it together with every image that needs it: ${dependants.map((d) => d.backupId).join(', ')}`,
      dependants: dependants.map((d) => d.backupId),
    };
  }
  const now = input.now.toISOString();
  const reason = `expired by the administrator at ${now}`;
  const all = [...dependants, target].sort(newestFirst);
  return {
    allowed: true,
    expire: all.map((i) => ({ backupId: i.backupId, client: i.client, expiresAt: i.expiresAt, reason: i.backupId === target.backupId ? reason : `${reason}, with ${target.backupId} it needs (--force)` })),
  };
}
