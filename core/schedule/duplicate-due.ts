import type { Image } from '../model/image.ts';
import type { Policy } from '../model/policy.ts';

/** A copy the scheduler should make now: image `backupId` to `storageUnit`, expiring at `expiresAt`. */
export interface DueDuplicate {
  backupId: string;
  policy: string;
  storageUnit: string;
  /** The copy's own retention end: the image's creation plus the policy copy's retention. */
  expiresAt: string;
  /** The instant by which the policy wants the copy (creation + `within`). */
  dueBy: string;
  reason: string;
}

/**
 * Which images are due for a copy their policy declares (the duplication
 * half of a storage lifecycle policy). Pure: policies, images and the
 * instant come in. An ACTIVE image of a policy with `copies` is due for each
 * declared copy whose unit holds no copy of it yet, unless that copy's
 * retention would already have ended (creation + retention ≤ now: it would
 * expire at once). Due from the moment the image is catalogued; `within`
 * only sets the instant the reason calls it overdue. Oldest images first,
 * so a backlog is worked off in order; the caller bounds how many it runs
 * per tick. An image whose policy is gone or no longer declares the copy is
 * not due.
 */
export function dueDuplicates(input: { policies: readonly Policy[]; images: readonly Image[]; now: Date }): DueDuplicate[] {
  const policies = new Map(input.policies.map((p) => [p.name, p]));
  const now = input.now.getTime();
  const due: DueDuplicate[] = [];
  const oldestFirst = [...input.images].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.backupId < b.backupId ? -1 : 1));
  for (const image of oldestFirst) {
    const policy = policies.get(image.policy);
    if (image.state !== 'ACTIVE' || !policy?.copies) continue;
    const created = Date.parse(image.createdAt);
    for (const wanted of policy.copies) {
      if (image.copies.some((c) => c.storageUnit === wanted.storageUnit)) continue;
      const expiresAt = created + wanted.retention.days * 86_400_000;
      if (expiresAt <= now) continue;
      const dueBy = created + (wanted.within ?? 0) * 1000;
      const late = now > dueBy ? `overdue since ${new Date(dueBy).toISOString()}` : `due by ${new Date(dueBy).toISOString()}`;
      due.push({
        backupId: image.backupId,
        policy: policy.name,
        storageUnit: wanted.storageUnit,
        expiresAt: new Date(expiresAt).toISOString(),
        dueBy: new Date(dueBy).toISOString(),
        reason: `policy ${policy.name} keeps a copy on ${wanted.storageUnit} for ${wanted.retention.days} days: ${late}`,
      });
    }
  }
  return due;
}
