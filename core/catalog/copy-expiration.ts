import type { Image, ImageCopy } from '../model/image.ts';
import { copyExpiresAt } from './image-copies.ts';

/**
 * Which copies of an image expire on their own (each copy's retention,
 * `ImageCopy.expiresAt`), the image staying. Pure; expire-images.ts carries
 * it out. The image-level plan (expiration-plan.ts) is unchanged: an image's
 * date is never before any of its copies' (the duplicate moves it:
 * image-copies.ts), so while some copy is still within its retention the
 * image is too, and when the last copy's date passes the image expires
 * whole, with whatever copies it still has, or is kept whole by the images
 * that need it.
 *
 * A copy expires when its own date has passed and another copy of the
 * image is still within its own: never the last copy. When the primary
 * goes, the next copy becomes the primary (NetBackup's promotion). An image
 * an open job reads or is being taken against (`busy`) keeps every copy
 * until the job ends: the job may be reading any of them.
 */
export interface CopyExpiring {
  backupId: string;
  client: string;
  copyNumber: number;
  storageUnit: string;
  expiresAt: string;
  reason: string;
}

export function planCopyExpiration(input: { images: readonly Image[]; now: Date; busy?: ReadonlySet<string> }): CopyExpiring[] {
  const now = input.now.getTime();
  const out: CopyExpiring[] = [];
  for (const image of input.images) {
    if (image.state !== 'ACTIVE' || image.copies.length < 2 || input.busy?.has(image.backupId)) continue;
    if (!image.copies.some((c) => Date.parse(copyExpiresAt(image, c)) > now)) continue;
    for (const copy of image.copies) {
      const at = copyExpiresAt(image, copy);
      if (Date.parse(at) <= now) out.push({ backupId: image.backupId, client: image.client, copyNumber: copy.copyNumber, storageUnit: copy.storageUnit, expiresAt: at, reason: `copy ${copy.copyNumber} expired on ${at}` });
    }
  }
  return out;
}

/**
 * The record without copy `copyNumber`, when the rule above still lets it go
 * (the compare-and-set's change: the record may have changed since the
 * plan); undefined to leave it.
 */
export function withoutExpiredCopy(image: Image, copyNumber: number, now: Date): { image: Image; copy: ImageCopy } | undefined {
  const copy = image.copies.find((c) => c.copyNumber === copyNumber);
  if (!copy || image.state !== 'ACTIVE' || image.copies.length < 2) return undefined;
  if (Date.parse(copyExpiresAt(image, copy)) > now.getTime()) return undefined;
  const rest = image.copies.filter((c) => c !== copy);
  if (!rest.some((c) => Date.parse(copyExpiresAt(image, c)) > now.getTime())) return undefined;
  return { image: { ...image, copies: rest }, copy };
}
